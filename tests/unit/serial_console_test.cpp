// The serial console: typed bytes wait on the host side until the UART's FIFO has room, reach
// the guest in order, and two threads may type and read at once.

#include <catch2/catch.hpp>

#include <stepvmm/devices/serial_console.hpp>

#include <thread>
#include <vector>

using namespace stepvmm;

namespace {

constexpr std::uint64_t rbr = 0, fcr = 2, lsr = 5;

class CountingLine final : public io::InterruptLine {
public:
    void set_level(bool asserted) override { level = asserted; }
    bool level = false;
};

std::uint8_t read_register(devices::SerialConsole& console, std::uint64_t offset)
{
    std::uint8_t value = 0;
    console.read(offset, std::span(&value, 1));
    return value;
}

void write_register(devices::SerialConsole& console, std::uint64_t offset, std::uint8_t value)
{
    console.write(offset, std::span(&value, 1));
}

// Reads everything the guest could read now, as a polling driver would.
std::vector<std::uint8_t> drain(devices::SerialConsole& console)
{
    std::vector<std::uint8_t> received;
    while (read_register(console, lsr) & 0x01)
        received.push_back(read_register(console, rbr));
    return received;
}

}

TEST_CASE("bytes typed beyond the FIFO wait and arrive in order as the guest reads", "[serial_console]")
{
    CountingLine line;
    std::vector<std::uint8_t> transmitted;
    devices::SerialConsole console("uart0", [&](std::uint8_t byte) { transmitted.push_back(byte); }, line);
    write_register(console, fcr, 0x01); // FIFO on: 16 bytes of room
    read_register(console, lsr);        // the driver is up

    std::vector<std::uint8_t> typed(100);
    for (std::size_t i = 0; i < typed.size(); ++i)
        typed[i] = static_cast<std::uint8_t>(i);
    console.type(typed);
    CHECK(console.received_bytes() == 16); // the UART took what fits, the rest waits

    CHECK(drain(console) == typed); // each RBR read makes room and pulls the next byte in
    CHECK(console.received_bytes() == 100);
}

TEST_CASE("type-ahead waits until the guest's driver has reset the FIFO", "[serial_console]")
{
    CountingLine line;
    devices::SerialConsole console("uart0", [](std::uint8_t) {}, line);
    console.type(std::vector<std::uint8_t> { 'a', 'b' }); // typed before the guest set the port up
    CHECK(console.received_bytes() == 0);
    write_register(console, fcr, 0x07); // the driver enables and clears the FIFOs
    CHECK((read_register(console, lsr) & 0x01) == 0); // its first LSR read lets the bytes in...
    CHECK(drain(console) == std::vector<std::uint8_t> { 'a', 'b' }); // ...and the next poll sees them
}

TEST_CASE("guest output goes to the transmit function", "[serial_console]")
{
    CountingLine line;
    std::vector<std::uint8_t> transmitted;
    devices::SerialConsole console("uart0", [&](std::uint8_t byte) { transmitted.push_back(byte); }, line);
    for (char c : std::string("ok\n"))
        write_register(console, rbr, static_cast<std::uint8_t>(c));
    CHECK(transmitted == std::vector<std::uint8_t> { 'o', 'k', '\n' });
    CHECK(console.transmitted_bytes() == 3);
}

TEST_CASE("a device thread typing while the vCPU thread reads loses and reorders nothing", "[serial_console]")
{
    CountingLine line;
    devices::SerialConsole console("uart0", [](std::uint8_t) {}, line);
    write_register(console, fcr, 0x01);
    read_register(console, lsr);
    constexpr std::size_t total = 20000;
    std::thread typist([&] {
        for (std::size_t i = 0; i < total; ++i) {
            std::uint8_t byte = static_cast<std::uint8_t>(i * 7);
            console.type(std::span(&byte, 1));
        }
    });
    std::vector<std::uint8_t> received;
    for (int rounds = 0; received.size() < total && rounds < 10'000'000; ++rounds) {
        auto more = drain(console);
        received.insert(received.end(), more.begin(), more.end());
    }
    typist.join();
    REQUIRE(received.size() == total);
    for (std::size_t i = 0; i < total; ++i)
        REQUIRE(received[i] == static_cast<std::uint8_t>(i * 7));
}
