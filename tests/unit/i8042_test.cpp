// The minimal i8042: its reset commands reach the machine once, and the commands Linux's
// driver sends while probing get answers instead of timeouts.

#include <stepvmm/devices/i8042.hpp>

#include <catch2/catch.hpp>

#include <array>

using namespace stepvmm::devices;

namespace {

std::uint8_t in(I8042& device, std::uint64_t offset)
{
    std::array<std::uint8_t, 1> data {};
    device.read(offset, data);
    return data[0];
}

void out(I8042& device, std::uint64_t offset, std::uint8_t value)
{
    std::array<std::uint8_t, 1> data { value };
    device.write(offset, data);
}

}

TEST_CASE("i8042 command 0xFE resets the machine, once", "[devices][i8042]")
{
    int resets = 0;
    I8042 device([&] { ++resets; });
    CHECK_FALSE(device.reset_requested());
    // Linux's reboot=k waits for the input buffer to empty, then pulses the reset line.
    CHECK((in(device, I8042::command_offset) & 0x02) == 0);
    out(device, I8042::command_offset, I8042::command_pulse_reset);
    CHECK(device.reset_requested());
    out(device, I8042::command_offset, I8042::command_pulse_reset);
    CHECK(resets == 1);
}

TEST_CASE("i8042 output port write with the reset line low resets too", "[devices][i8042]")
{
    int resets = 0;
    I8042 device([&] { ++resets; });
    out(device, I8042::command_offset, I8042::command_write_output_port);
    out(device, I8042::data_offset, 0xfe);
    CHECK(resets == 1);
}

TEST_CASE("i8042 answers the probe commands and ignores the rest", "[devices][i8042]")
{
    I8042 device({});
    CHECK(in(device, I8042::command_offset) == I8042::status_system); // nothing to read
    out(device, I8042::command_offset, I8042::command_self_test);
    CHECK((in(device, I8042::command_offset) & I8042::status_output_full) != 0);
    CHECK(in(device, I8042::data_offset) == 0x55);
    CHECK((in(device, I8042::command_offset) & I8042::status_output_full) == 0);

    out(device, I8042::command_offset, I8042::command_write_config);
    out(device, I8042::data_offset, 0x47);
    out(device, I8042::command_offset, I8042::command_read_config);
    CHECK(in(device, I8042::data_offset) == 0x47);

    for (int harmless : { 0xa7, 0xa8, 0xad, 0xae, 0x00, 0xc0 })
        out(device, I8042::command_offset, static_cast<std::uint8_t>(harmless));
    out(device, I8042::data_offset, 0xff); // a byte for the absent keyboard
    CHECK_FALSE(device.reset_requested());
    CHECK(in(device, 1) == 0xff); // not its port
}
