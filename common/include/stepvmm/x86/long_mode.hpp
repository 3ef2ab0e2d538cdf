#pragma once
/// @file
/// Putting a vCPU straight into 64-bit long mode from the VMM, as Firecracker and Cloud
/// Hypervisor do for their 64-bit boot paths, instead of letting the guest climb from real
/// mode (as kvmtool's vCPUs and a PC's firmware do).

#include <stepvmm/x86/page_tables.hpp>

#include <cstdint>

namespace stepvmm {
class GuestMemory;
class Vcpu;
}

namespace stepvmm::x86 {

/// Which GDT enter_long_mode() loads.
enum class GdtLayout {
    Flat,      ///< flat_gdt(): stepvmm guests, code 0x08, data 0x10
    LinuxBoot, ///< linux_boot_gdt(): __BOOT_CS 0x10, __BOOT_DS 0x18 (boot.rst)
};

/// Where the VMM puts the structures long mode needs, and how it maps memory.
struct LongModeConfig {
    std::uint64_t gdt_address = 0x1000;        ///< the flat GDT (40 bytes)
    std::uint64_t page_table_address = 0x10000; ///< PML4, PDPT, page directories, consecutively
    std::uint64_t page_table_area_size = 0x10000; ///< room reserved for the tables (64 KiB)
    std::uint64_t identity_map_limit = 0;      ///< map [0, limit); 0 = all RAM and the 4 GiB hole
    LeafSize leaf = LeafSize::Size2M;
    UserAccess user = UserAccess::Allowed;
    GdtLayout gdt = GdtLayout::Flat;
};

/// Control-register bits (SDM Vol. 3A §2.5) and EFER bits (§2.2.1).
namespace bits {
inline constexpr std::uint64_t cr0_pe = 1ULL << 0;  ///< protected mode
inline constexpr std::uint64_t cr0_mp = 1ULL << 1;
inline constexpr std::uint64_t cr0_et = 1ULL << 4;
inline constexpr std::uint64_t cr0_ne = 1ULL << 5;
inline constexpr std::uint64_t cr0_wp = 1ULL << 16; ///< ring 0 honours read-only pages
inline constexpr std::uint64_t cr0_pg = 1ULL << 31; ///< paging
inline constexpr std::uint64_t cr4_pae = 1ULL << 5; ///< required by long mode
inline constexpr std::uint64_t efer_sce = 1ULL << 0; ///< SYSCALL/SYSRET enabled
inline constexpr std::uint64_t efer_lme = 1ULL << 8; ///< long mode enable
inline constexpr std::uint64_t efer_lma = 1ULL << 10; ///< long mode active
}

/// Writes the GDT and identity page tables into guest memory and loads the vCPU's special
/// registers so that its next instruction runs in 64-bit ring 0 with paging on. Throws
/// UserError if the tables do not fit the reserved area or the area is not RAM.
void enter_long_mode(Vcpu& vcpu, const GuestMemory& memory, const LongModeConfig& config);

} // namespace stepvmm::x86
