#pragma once
/// @file
/// A PCI function's 256-byte configuration space with a type 0 header (PCI Local Bus 3.0
/// §6.1): identification, command/status, BARs with the sizing protocol firmware and
/// operating systems use (§6.2.5.1), interrupt pin/line, and a capability list (§6.7).

#include <array>
#include <cstdint>
#include <functional>
#include <span>

namespace stepvmm::pci {

/// Header offsets (§6.1).
namespace header {
inline constexpr std::uint16_t vendor_id = 0x00;
inline constexpr std::uint16_t device_id = 0x02;
inline constexpr std::uint16_t command = 0x04;
inline constexpr std::uint16_t status = 0x06;
inline constexpr std::uint16_t revision = 0x08;
inline constexpr std::uint16_t class_code = 0x09; ///< 3 bytes: programming interface, subclass, class
inline constexpr std::uint16_t header_type = 0x0e;
inline constexpr std::uint16_t bar0 = 0x10;
inline constexpr std::uint16_t subsystem_vendor_id = 0x2c;
inline constexpr std::uint16_t subsystem_id = 0x2e;
inline constexpr std::uint16_t capabilities_pointer = 0x34;
inline constexpr std::uint16_t interrupt_line = 0x3c;
inline constexpr std::uint16_t interrupt_pin = 0x3d;
inline constexpr std::uint16_t command_memory_space = 1 << 1;
inline constexpr std::uint16_t command_bus_master = 1 << 2;
inline constexpr std::uint16_t command_interrupt_disable = 1 << 10;
inline constexpr std::uint16_t status_capabilities_list = 1 << 4;
inline constexpr std::uint16_t status_interrupt = 1 << 3;
} // namespace header

inline constexpr std::size_t config_space_size = 256;

/// What identifies a function to its driver.
struct Identity {
    std::uint16_t vendor_id;
    std::uint16_t device_id;
    std::uint32_t class_code; ///< class << 16 | subclass << 8 | programming interface
    std::uint8_t revision;
    std::uint16_t subsystem_vendor_id;
    std::uint16_t subsystem_id;
};

class ConfigSpace {
public:
    explicit ConfigSpace(const Identity& identity);

    /// Reads bytes as the guest sees them (BARs included).
    void read(std::uint16_t offset, std::span<std::uint8_t> data) const;
    /// Writes bytes; read-only bits keep their value, BARs follow the sizing protocol.
    void write(std::uint16_t offset, std::span<const std::uint8_t> data);

    /// Declares BARs @p index and @p index + 1 as one 64-bit memory BAR of @p size bytes (a
    /// power of two of at least 16 bytes, §6.2.5.1).
    void add_memory_bar64(unsigned index, std::uint64_t size);
    /// Where BAR @p index currently points (what firmware or the OS programmed).
    [[nodiscard]] std::uint64_t bar_address(unsigned index) const;
    /// Programs a BAR as firmware does before the OS starts.
    void set_bar_address(unsigned index, std::uint64_t address);
    [[nodiscard]] bool memory_space_enabled() const;
    /// Called after a BAR's address or the memory-space enable bit changed, so the machine can
    /// move the BAR on its MMIO bus and its ioeventfds.
    std::function<void()> on_memory_map_change;

    /// Appends a capability with @p id and @p body (everything after the ID and next-pointer
    /// bytes); returns its offset. Bytes of it become guest-writable where @p writable_mask is 1.
    std::uint8_t add_capability(std::uint8_t id, std::span<const std::uint8_t> body, std::span<const std::uint8_t> writable_mask = {});

    void set_interrupt_pin(std::uint8_t pin, std::uint8_t line);

    /// Direct access for the function's own code (capability registers it interprets).
    [[nodiscard]] std::uint8_t byte(std::uint16_t offset) const { return m_bytes[offset]; }
    void set_byte(std::uint16_t offset, std::uint8_t value) { m_bytes[offset] = value; }
    [[nodiscard]] std::uint32_t read32(std::uint16_t offset) const;
    void set16(std::uint16_t offset, std::uint16_t value);
    void set32(std::uint16_t offset, std::uint32_t value);

private:
    [[nodiscard]] int bar_of(std::uint16_t offset) const;

    std::array<std::uint8_t, config_space_size> m_bytes {};
    std::array<std::uint8_t, config_space_size> m_writable {};
    std::array<std::uint64_t, 6> m_bar_sizes {}; ///< 0: not implemented; on the low half of a 64-bit pair
    std::uint8_t m_next_capability = 0x40;
    std::uint8_t m_last_capability = 0;
};

} // namespace stepvmm::pci
