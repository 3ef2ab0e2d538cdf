#pragma once
/// @file
/// The CPU state a Linux kernel is entered with under the 64-bit boot protocol
/// (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"): 64-bit mode with paging, an
/// identity map covering the kernel from its load address for init_size, boot_params and the
/// command line; a GDT with flat __BOOT_CS (0x10) and __BOOT_DS (0x18); CS = __BOOT_CS,
/// DS = ES = SS = __BOOT_DS; interrupts disabled; RSI = the address of boot_params.

#include <stepvmm/boot/linux_loader.hpp>
#include <stepvmm/x86/long_mode.hpp>

#include <cstdint>

namespace stepvmm {
class GuestMemory;
class Vcpu;
}

namespace stepvmm::boot {

/// Where the boot GDT and page tables go: below boot_params and the command line.
struct LinuxEntryTables {
    std::uint64_t gdt = 0x1000;
    std::uint64_t page_tables = 0xa000; ///< PML4, PDPT, 4 page directories: 24 KiB
    std::uint64_t page_table_area = 0x6000;
};

/// The identity map: the first 4 GiB with 2 MiB pages, which covers everything the loader
/// placed (all of it lies in low RAM, below 4 GiB) and the 32-bit device hole.
inline constexpr std::uint64_t linux_identity_map_limit = 0x1'0000'0000ULL;

/// The long-mode configuration enter_linux() uses.
[[nodiscard]] x86::LongModeConfig linux_long_mode_config(const LinuxEntryTables& tables = {});

/// Puts @p vcpu at @p loaded's 64-bit entry point in the state boot.rst requires. Also checks
/// that the kernel, initrd, boot_params and command line all lie inside the identity map.
void enter_linux(Vcpu& vcpu, const GuestMemory& memory, const LoadedLinux& loaded, const LinuxEntryTables& tables = {});

} // namespace stepvmm::boot
