#pragma once
/// @file
/// An Intel MultiProcessor Specification 1.4 table: how an OS without ACPI finds its CPUs'
/// local APICs, the I/O APIC and how ISA interrupts reach it. Linux scans for the floating
/// pointer structure in the BIOS area (MP spec §4.1) when it finds no ACPI tables, so this is
/// the smallest firmware a VMM must provide for an SMP guest with an I/O APIC.

#include <cstdint>
#include <vector>

namespace stepvmm {
class GuestMemory;
}

namespace stepvmm::boot {

/// Where the machine's interrupt controllers are.
struct MpConfig {
    unsigned cpu_count = 1;                        ///< APIC ids 0 .. cpu_count-1; CPU 0 is the bootstrap processor
    std::uint64_t local_apic_address = 0xfee00000; ///< MP spec §4.2, the architectural default
    std::uint64_t io_apic_address = 0xfec00000;    ///< where KVM's in-kernel IOAPIC decodes
    std::uint8_t io_apic_version = 0x11;           ///< the 82093AA's version, what KVM's IOAPIC reports
};

/// Entry types of the base configuration table (MP spec §4.3, Table 4-3).
namespace mp_entry {
inline constexpr std::uint8_t processor = 0;
inline constexpr std::uint8_t bus = 1;
inline constexpr std::uint8_t io_apic = 2;
inline constexpr std::uint8_t io_interrupt = 3;
inline constexpr std::uint8_t local_interrupt = 4;
}

/// Interrupt types of I/O and local interrupt entries (MP spec Table 4-11).
namespace mp_interrupt {
inline constexpr std::uint8_t vectored = 0; ///< INT: the APIC supplies the vector
inline constexpr std::uint8_t nmi = 1;
inline constexpr std::uint8_t smi = 2;
inline constexpr std::uint8_t external = 3; ///< ExtINT: the 8259 supplies the vector
}

/// The floating pointer and the configuration table, laid out for one guest address.
struct MpTable {
    std::uint64_t address;           ///< where the floating pointer goes (16-byte aligned)
    std::vector<std::uint8_t> bytes; ///< floating pointer, immediately followed by the configuration table
};

/// The I/O APIC's id: after the last CPU's APIC id, so the two never collide.
[[nodiscard]] std::uint8_t io_apic_id(const MpConfig& config);

/// Builds the table for @p config at @p address (16-byte aligned, below 1 MiB) — with one
/// processor entry per CPU, an ISA bus, the I/O APIC, ISA IRQs 0-15 (except the cascade,
/// IRQ 2) on the IOAPIC pin of the same number, and ExtINT/NMI on every CPU's LINT0/LINT1.
/// Throws UserError if cpu_count is 0 or too large for 8-bit APIC ids.
[[nodiscard]] MpTable build_mp_table(const MpConfig& config, std::uint64_t address);

/// The byte sum a checksummed MP structure must have: 0 (MP spec §4.1, §4.2).
[[nodiscard]] std::uint8_t byte_sum(const std::uint8_t* data, std::size_t length);

/// The conventional place: the start of the BIOS ROM area at 0xF0000, one of the three
/// regions the spec tells an OS to search.
inline constexpr std::uint64_t bios_area_mp_address = 0xf0000;

/// build_mp_table() and copy it into guest memory.
void write_mp_table(const GuestMemory& memory, const MpConfig& config, std::uint64_t address = bios_area_mp_address);

} // namespace stepvmm::boot
