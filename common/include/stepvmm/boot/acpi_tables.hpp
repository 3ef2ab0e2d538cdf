#pragma once
/// @file
/// Minimal ACPI tables (ACPI 6.4) so that a kernel without MP-table support — such as Debian's
/// cloud kernel, built without CONFIG_X86_MPPARSE — finds its interrupt controllers: an RSDP
/// in the BIOS area where the OS searches for it (§5.2.5.1), an XSDT, a FADT for a
/// "hardware-reduced" platform (§5.2.9: no PM timer, no SCI, no fixed hardware), an empty
/// DSDT, and a MADT (§5.2.12) listing each local APIC, the I/O APIC and the LINT1 NMI.

#include <cstdint>

namespace stepvmm {
class GuestMemory;
}

namespace stepvmm::boot {

/// What the MADT describes: the CPUs' local APICs and KVM's in-kernel I/O APIC.
struct AcpiConfig {
    unsigned cpu_count = 1;                         ///< local APIC ids 0 .. cpu_count-1
    std::uint32_t local_apic_address = 0xfee00000;  ///< the architectural default
    std::uint32_t io_apic_address = 0xfec00000;     ///< KVM's in-kernel I/O APIC
    std::uint8_t io_apic_id = 0;                    ///< KVM's in-kernel I/O APIC resets to id 0
};

/// Where the RSDP goes: the start of the BIOS read-only area, 16-byte aligned, which Linux
/// scans (arch/x86 acpi_find_root_pointer: 0xE0000-0xFFFFF). The other tables follow it.
inline constexpr std::uint64_t acpi_rsdp_address = 0xe0000;
/// The area the tables occupy, so callers can check it stays clear of other firmware tables.
inline constexpr std::uint64_t acpi_area_size = 0x1000;

/// The table signatures and their guest-physical addresses, for tests and the chapter's output.
struct AcpiLayout {
    std::uint64_t rsdp; ///< Root System Description Pointer (§5.2.5), at acpi_rsdp_address
    std::uint64_t xsdt; ///< Extended System Description Table (§5.2.8): points at the FADT and MADT
    std::uint64_t fadt; ///< Fixed ACPI Description Table "FACP" (§5.2.9): points at the DSDT
    std::uint64_t dsdt; ///< Differentiated System Description Table (§5.2.11.1), header only
    std::uint64_t madt; ///< Multiple APIC Description Table "APIC" (§5.2.12)
};

/// Writes all tables into guest RAM (the range must be RAM the e820 map reserves) and returns
/// where each one went. Throws UserError for a cpu_count the MADT cannot hold.
AcpiLayout write_acpi_tables(const GuestMemory& memory, const AcpiConfig& config);

} // namespace stepvmm::boot
