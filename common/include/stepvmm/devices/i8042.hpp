#pragma once
/// @file
/// A minimal i8042 keyboard controller: on a PC the way software resets the machine (command
/// 0xFE, "pulse output line 0" = the CPU's reset pin), which Linux uses with reboot=k. The
/// chapter treats that reset as the guest's clean way out. No keyboard or mouse is attached:
/// the controller answers its own commands (configuration byte, self tests) so Linux's driver
/// probes it quickly and finds no devices, instead of timing out on every command.
///
/// Registers (IBM PS/2 Technical Reference; Linux drivers/input/serio/i8042.h): port 0x60
/// data, port 0x64 status (read) / command (write). The device sees offsets 0 and 4 of a
/// 5-port window at 0x60; offsets 1-3 are not its (port 0x61 is KVM's in-kernel PIT speaker
/// port, which never reaches the VMM).

#include <stepvmm/io/device.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace stepvmm::devices {

class I8042 final : public io::Device {
public:
    /// Register offsets from the window base 0x60.
    static constexpr std::uint64_t data_offset = 0;
    static constexpr std::uint64_t command_offset = 4;
    static constexpr std::uint64_t window_size = 5;

    /// Status register bits.
    static constexpr std::uint8_t status_output_full = 0x01; ///< a byte waits at port 0x60
    static constexpr std::uint8_t status_system = 0x04;      ///< self test passed
    static constexpr std::uint8_t status_command = 0x08;     ///< last write was a command

    /// Controller commands this model knows.
    static constexpr std::uint8_t command_read_config = 0x20;
    static constexpr std::uint8_t command_write_config = 0x60;
    static constexpr std::uint8_t command_disable_aux = 0xa7;
    static constexpr std::uint8_t command_enable_aux = 0xa8;
    static constexpr std::uint8_t command_test_aux = 0xa9;
    static constexpr std::uint8_t command_self_test = 0xaa;
    static constexpr std::uint8_t command_test_keyboard = 0xab;
    static constexpr std::uint8_t command_disable_keyboard = 0xad;
    static constexpr std::uint8_t command_enable_keyboard = 0xae;
    static constexpr std::uint8_t command_write_output_port = 0xd1;
    static constexpr std::uint8_t command_pulse_reset = 0xfe;

    /// @p on_reset runs (on the vCPU thread) when the guest resets the machine.
    explicit I8042(std::function<void()> on_reset);

    [[nodiscard]] std::string_view name() const override { return "i8042"; }
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    /// Whether the guest has asked for a reset.
    [[nodiscard]] bool reset_requested() const { return m_reset_requested; }

private:
    std::uint8_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint8_t value);
    void command(std::uint8_t value);
    void request_reset();

    std::function<void()> m_on_reset;
    std::uint8_t m_config = 0x00;           ///< controller configuration byte: interrupts off
    std::uint8_t m_status = status_system;
    std::optional<std::uint8_t> m_output;   ///< the byte port 0x60 returns next
    std::optional<std::uint8_t> m_pending_command; ///< a command waiting for its data byte
    bool m_reset_requested = false;
};

} // namespace stepvmm::devices
