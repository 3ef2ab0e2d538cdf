// io::Bus: address decoding from "the guest touched this address" to "this device, this offset"
// (house rule 4), with the splitting of accesses that run past a device and the counting of
// accesses nobody decodes.

#include <stepvmm/io/bus.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace stepvmm;

namespace {

constexpr std::uint64_t all_ones = std::numeric_limits<std::uint64_t>::max();

struct Access {
    AccessDirection direction;
    std::uint64_t offset;
    std::vector<std::uint8_t> bytes;

    bool operator==(const Access&) const = default;
};

// A device that remembers every access; it reads as fill + offset, byte by byte, so a test
// can tell which device and which offset produced a byte.
class RecordingDevice final : public io::Device {
public:
    RecordingDevice(std::string name, std::uint8_t fill)
        : m_name(std::move(name))
        , m_fill(fill)
    {
    }

    [[nodiscard]] std::string_view name() const override { return m_name; }

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override
    {
        for (std::size_t index = 0; index < data.size(); ++index)
            data[index] = byte_at(offset + index);
        accesses.push_back({ AccessDirection::Read, offset, { data.begin(), data.end() } });
    }

    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override
    {
        accesses.push_back({ AccessDirection::Write, offset, { data.begin(), data.end() } });
    }

    [[nodiscard]] std::uint8_t byte_at(std::uint64_t offset) const { return static_cast<std::uint8_t>(m_fill + offset); }

    std::vector<Access> accesses;

private:
    std::string m_name;
    std::uint8_t m_fill;
};

std::vector<std::uint8_t> read_bytes(io::Bus& bus, std::uint64_t address, std::size_t size)
{
    std::vector<std::uint8_t> bytes(size, 0x00);
    bus.access(AccessDirection::Read, address, bytes);
    return bytes;
}

void write_bytes(io::Bus& bus, std::uint64_t address, std::vector<std::uint8_t> bytes)
{
    bus.access(AccessDirection::Write, address, bytes);
}

}

TEST_CASE("Bus dispatches an access to the device that decodes it, at the device's offset", "[bus]")
{
    io::Bus bus("PIO");
    RecordingDevice uart("uart0", 0x10), disk("legacy-disk", 0x80);
    // Registered out of address order on purpose.
    bus.add(0x3f8, 8, uart);
    bus.add(0x1f0, 8, disk);
    CHECK(bus.name() == "PIO");

    CHECK(read_bytes(bus, 0x1f7, 1) == std::vector<std::uint8_t> { disk.byte_at(7) });
    write_bytes(bus, 0x3f9, { 0xaa, 0xbb });
    write_bytes(bus, 0x1f0, { 0x34, 0x12 });
    CHECK(read_bytes(bus, 0x3f8, 1) == std::vector<std::uint8_t> { uart.byte_at(0) });

    CHECK(disk.accesses == std::vector<Access> { { AccessDirection::Read, 7, { disk.byte_at(7) } }, { AccessDirection::Write, 0, { 0x34, 0x12 } } });
    CHECK(uart.accesses == std::vector<Access> { { AccessDirection::Write, 1, { 0xaa, 0xbb } }, { AccessDirection::Read, 0, { uart.byte_at(0) } } });
    CHECK(bus.unclaimed().reads == 0);
    CHECK(bus.unclaimed().writes == 0);
}

TEST_CASE("Bus::add rejects a range that overlaps one already registered", "[bus]")
{
    io::Bus bus("MMIO");
    RecordingDevice first("first", 0x00), second("second", 0x40);
    bus.add(0x100, 0x10, first);

    struct Candidate {
        std::uint64_t base, size;
    };
    for (Candidate candidate : { Candidate { 0x100, 0x10 }, Candidate { 0x10f, 1 }, Candidate { 0xf0, 0x11 }, Candidate { 0x104, 4 },
             Candidate { 0x0, 0x1000 }, Candidate { 0x108, all_ones - 0x108 } }) {
        CAPTURE(candidate.base, candidate.size);
        CHECK_THROWS_AS(bus.add(candidate.base, candidate.size, second), std::invalid_argument);
    }
    try {
        bus.add(0x10f, 4, second);
        FAIL("an overlapping range was accepted");
    } catch (const std::invalid_argument& error) {
        CHECK_THAT(error.what(), Catch::Contains("first") && Catch::Contains("second") && Catch::Contains("MMIO"));
    }

    // The refused ranges left nothing behind: the first device still decodes its whole range.
    read_bytes(bus, 0x10f, 1);
    CHECK(first.accesses.size() == 1);
    CHECK(second.accesses.empty());

    // Touching is not overlapping.
    CHECK_NOTHROW(bus.add(0xf0, 0x10, second));
    RecordingDevice third("third", 0x80);
    CHECK_NOTHROW(bus.add(0x110, 0x10, third));
    read_bytes(bus, 0xff, 1);
    read_bytes(bus, 0x110, 1);
    CHECK(second.accesses.size() == 1);
    CHECK(third.accesses.size() == 1);
}

TEST_CASE("Bus::add rejects empty and wrapping ranges", "[bus]")
{
    io::Bus bus("MMIO");
    RecordingDevice device("device", 0);
    CHECK_THROWS_AS(bus.add(0x1000, 0, device), std::invalid_argument);
    CHECK_THROWS_AS(bus.add(all_ones - 0xf, 0x20, device), std::invalid_argument);
    CHECK_THROWS_AS(bus.add(all_ones, 2, device), std::invalid_argument);
    CHECK_THROWS_AS(bus.add(1, all_ones, device), std::invalid_argument);

    // Nothing was registered: the bus decodes nothing.
    CHECK(read_bytes(bus, 0x1000, 1) == std::vector<std::uint8_t> { 0xff });
    CHECK(read_bytes(bus, all_ones - 1, 1) == std::vector<std::uint8_t> { 0xff });
    CHECK(device.accesses.empty());
    CHECK(bus.device_counts().empty());
}

TEST_CASE("an access that runs past a device's end continues in the next device", "[bus]")
{
    io::Bus bus("PIO");
    RecordingDevice low("low", 0x10), high("high", 0x80);
    bus.add(0x10, 8, low);
    bus.add(0x18, 8, high);

    CHECK(read_bytes(bus, 0x16, 4) == std::vector<std::uint8_t> { low.byte_at(6), low.byte_at(7), high.byte_at(0), high.byte_at(1) });
    write_bytes(bus, 0x17, { 1, 2, 3, 4 });

    CHECK(low.accesses == std::vector<Access> { { AccessDirection::Read, 6, { low.byte_at(6), low.byte_at(7) } }, { AccessDirection::Write, 7, { 1 } } });
    CHECK(high.accesses == std::vector<Access> { { AccessDirection::Read, 0, { high.byte_at(0), high.byte_at(1) } }, { AccessDirection::Write, 0, { 2, 3, 4 } } });
    CHECK(bus.counts_for("low").reads == 1);
    CHECK(bus.counts_for("low").writes == 1);
    CHECK(bus.counts_for("high").reads == 1);
    CHECK(bus.counts_for("high").writes == 1);
    CHECK(bus.unclaimed().reads == 0);
    CHECK(bus.unclaimed().writes == 0);
}

TEST_CASE("an access that runs past a device's end into unclaimed space floats there", "[bus]")
{
    io::Bus bus("PIO");
    RecordingDevice first("first", 0x10), second("second", 0x80);
    bus.add(0x10, 2, first);
    bus.add(0x14, 2, second);

    SECTION("off the end of the last device")
    {
        CHECK(read_bytes(bus, 0x15, 4) == std::vector<std::uint8_t> { second.byte_at(1), 0xff, 0xff, 0xff });
        write_bytes(bus, 0x15, { 1, 2, 3, 4 });
        CHECK(second.accesses == std::vector<Access> { { AccessDirection::Read, 1, { second.byte_at(1) } }, { AccessDirection::Write, 1, { 1 } } });
        CHECK(bus.unclaimed().reads == 1);
        CHECK(bus.unclaimed().writes == 1);
    }
    SECTION("from unclaimed space into a device")
    {
        CHECK(read_bytes(bus, 0x0e, 4) == std::vector<std::uint8_t> { 0xff, 0xff, first.byte_at(0), first.byte_at(1) });
        CHECK(first.accesses == std::vector<Access> { { AccessDirection::Read, 0, { first.byte_at(0), first.byte_at(1) } } });
        CHECK(bus.unclaimed().reads == 1);
    }
    SECTION("across a gap between two devices")
    {
        CHECK(read_bytes(bus, 0x11, 4) == std::vector<std::uint8_t> { first.byte_at(1), 0xff, 0xff, second.byte_at(0) });
        write_bytes(bus, 0x11, { 5, 6, 7, 8 });
        CHECK(first.accesses.back() == Access { AccessDirection::Write, 1, { 5 } });
        CHECK(second.accesses.back() == Access { AccessDirection::Write, 0, { 8 } });
        CHECK(bus.unclaimed().reads == 1);
        CHECK(bus.unclaimed().writes == 1);
        CHECK(bus.counts_for("first").reads == 1);
        CHECK(bus.counts_for("second").writes == 1);
    }
}

TEST_CASE("unclaimed reads return 0xff and unclaimed writes are dropped, and both are counted", "[bus]")
{
    io::Bus bus("PIO");
    RecordingDevice device("device", 0);
    bus.add(0x80, 1, device);

    for (std::size_t size : { 1, 2, 4, 8 }) {
        CAPTURE(size);
        CHECK(read_bytes(bus, 0x2f8, size) == std::vector<std::uint8_t>(size, 0xff));
    }
    CHECK(read_bytes(bus, all_ones, 1) == std::vector<std::uint8_t> { 0xff });
    write_bytes(bus, 0x2f8, { 0x41 });
    write_bytes(bus, 0x0, { 1, 2, 3, 4 });

    CHECK(bus.unclaimed().reads == 5);
    CHECK(bus.unclaimed().writes == 2);
    CHECK(device.accesses.empty());
    CHECK(bus.counts_for("device").reads == 0);
    CHECK(bus.counts_for("device").writes == 0);
}

TEST_CASE("counts_for and device_counts report accesses per device name", "[bus]")
{
    io::Bus bus("PIO");
    RecordingDevice uart("uart0", 0), disk("legacy-disk", 0), idle("post-code", 0);
    bus.add(0x3f8, 8, uart);
    bus.add(0x1f0, 8, disk);
    bus.add(0x3f6, 1, disk); // one device may decode two ranges (like an IDE control block)
    bus.add(0x80, 1, idle);

    read_bytes(bus, 0x3fd, 1);
    read_bytes(bus, 0x3fd, 1);
    write_bytes(bus, 0x3f8, { 'x' });
    read_bytes(bus, 0x1f7, 1);
    write_bytes(bus, 0x3f6, { 0 });
    write_bytes(bus, 0x1f0, { 0, 0 });

    CHECK(bus.counts_for("uart0").reads == 2);
    CHECK(bus.counts_for("uart0").writes == 1);
    CHECK(bus.counts_for("legacy-disk").reads == 1);
    CHECK(bus.counts_for("legacy-disk").writes == 2); // both ranges
    CHECK(bus.counts_for("nobody").reads == 0);
    CHECK(bus.counts_for("nobody").writes == 0);

    auto counts = bus.device_counts();
    REQUIRE(counts.size() == 3);
    CHECK(counts.at("uart0").reads == 2);
    CHECK(counts.at("uart0").writes == 1);
    CHECK(counts.at("legacy-disk").reads == 1);
    CHECK(counts.at("legacy-disk").writes == 2);
    CHECK(counts.at("post-code").reads == 0);
    CHECK(counts.at("post-code").writes == 0);
    CHECK(bus.unclaimed().reads == 0);
}

TEST_CASE("a string I/O exit becomes one access per element, in order, at the same port", "[bus]")
{
    // A device that records every access it sees.
    struct Recorder final : io::Device {
        std::string_view name() const override { return "recorder"; }
        void read(std::uint64_t offset, std::span<std::uint8_t> data) override
        {
            accesses.emplace_back(offset, data.size());
            data[0] = static_cast<std::uint8_t>(next++);
            data[1] = 0;
        }
        void write(std::uint64_t offset, std::span<const std::uint8_t> data) override
        {
            accesses.emplace_back(offset, data.size());
            written.push_back(data[0]);
        }
        std::vector<std::pair<std::uint64_t, std::size_t>> accesses;
        std::vector<std::uint8_t> written;
        int next = 1;
    } recorder;
    io::Bus bus("PIO");
    bus.add(0x1f0, 8, recorder);

    std::vector<std::uint8_t> data(2 * 4); // REP INSW with count 4
    bus.dispatch(IoExit { AccessDirection::Read, 0x1f0, 2, 4, data });
    CHECK(recorder.accesses == std::vector<std::pair<std::uint64_t, std::size_t>>(4, { 0, 2 }));
    CHECK(data == std::vector<std::uint8_t> { 1, 0, 2, 0, 3, 0, 4, 0 });

    std::vector<std::uint8_t> out { 9, 8, 7 }; // REP OUTSB with count 3 at offset 1
    bus.dispatch(IoExit { AccessDirection::Write, 0x1f1, 1, 3, out });
    CHECK(recorder.written == std::vector<std::uint8_t> { 9, 8, 7 });
    CHECK(bus.counts_for("recorder").reads == 4);
    CHECK(bus.counts_for("recorder").writes == 3);
}
