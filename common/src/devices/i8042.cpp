#include <stepvmm/devices/i8042.hpp>

namespace stepvmm::devices {

// Answers to the self tests (PS/2 Technical Reference, keyboard controller commands).
static constexpr std::uint8_t self_test_passed = 0x55;
static constexpr std::uint8_t interface_test_passed = 0x00;
// "Clock line stuck low" as the answer to the aux interface test: there is no mouse port.
static constexpr std::uint8_t aux_interface_absent = 0x01;
// Output port bit 0 is the CPU reset line, active low.
static constexpr std::uint8_t output_port_reset_line = 0x01;

I8042::I8042(std::function<void()> on_reset)
    : m_on_reset(std::move(on_reset))
{
}

void I8042::read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    io::read_byte_registers(offset, data, window_size, [this](std::uint64_t reg) { return read_register(reg); });
}

void I8042::write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    io::write_byte_registers(offset, data, window_size, [this](std::uint64_t reg, std::uint8_t value) { write_register(reg, value); });
}

std::uint8_t I8042::read_register(std::uint64_t offset)
{
    if (offset == command_offset)
        return static_cast<std::uint8_t>(m_status | (m_output ? status_output_full : 0));
    if (offset == data_offset) {
        std::uint8_t value = m_output.value_or(0);
        m_output.reset();
        return value;
    }
    return io::floating_bus;
}

void I8042::write_register(std::uint64_t offset, std::uint8_t value)
{
    if (offset == command_offset) {
        m_status |= status_command;
        command(value);
        return;
    }
    if (offset != data_offset)
        return;
    m_status = static_cast<std::uint8_t>(m_status & ~status_command);
    if (!m_pending_command)
        return; // a byte for the keyboard, and there is none: dropped
    std::uint8_t pending = *m_pending_command;
    m_pending_command.reset();
    if (pending == command_write_config)
        m_config = value;
    else if (pending == command_write_output_port && (value & output_port_reset_line) == 0)
        request_reset();
}

void I8042::command(std::uint8_t value)
{
    switch (value) {
    case command_read_config:
        m_output = m_config;
        break;
    case command_write_config:
    case command_write_output_port:
        m_pending_command = value;
        break;
    case command_self_test:
        m_output = self_test_passed;
        break;
    case command_test_keyboard:
        m_output = interface_test_passed;
        break;
    case command_test_aux:
        m_output = aux_interface_absent;
        break;
    case command_pulse_reset:
        request_reset();
        break;
    default:
        // Enable/disable keyboard or aux port and anything else: accepted, nothing to do.
        break;
    }
}

void I8042::request_reset()
{
    if (m_reset_requested)
        return;
    m_reset_requested = true;
    if (m_on_reset)
        m_on_reset();
}

} // namespace stepvmm::devices
