#pragma once
/// @file
/// 4-level x86-64 page tables that identity-map guest-physical memory (SDM Vol. 3A §4.5).

#include <array>
#include <cstdint>
#include <vector>

namespace stepvmm::x86 {

/// Size of the leaf pages the identity map uses.
enum class LeafSize {
    Size2M, ///< PML4 -> PDPT -> PD with PS=1: a 3-level walk
    Size1G, ///< PML4 -> PDPT with PS=1: a 2-level walk (needs CPUID pdpe1gb)
};

/// Whether ring 3 may use the mappings (the U/S bit on every level).
enum class UserAccess {
    Denied,
    Allowed,
};

/// Page-table entry bits (SDM Vol. 3A, Table 4-14 … 4-20).
namespace pte {
inline constexpr std::uint64_t present = 1ULL << 0;
inline constexpr std::uint64_t writable = 1ULL << 1;
inline constexpr std::uint64_t user = 1ULL << 2;
inline constexpr std::uint64_t page_size = 1ULL << 7;
inline constexpr std::uint64_t address_mask = 0x000f'ffff'ffff'f000ULL;
}

/// One 4 KiB page-table page and where it goes in guest-physical memory.
struct PageTablePage {
    std::uint64_t guest_physical_address;
    std::array<std::uint64_t, 512> entries {};
};

/// The pages of an identity map; pages[0] is the PML4 (its address goes into CR3).
struct IdentityPageTables {
    std::vector<PageTablePage> pages;
    [[nodiscard]] std::uint64_t cr3() const { return pages.front().guest_physical_address; }
};

/// Builds tables mapping virtual [0, @p limit) to the same physical addresses, placing the
/// table pages consecutively from @p table_base. @p limit is rounded up to the leaf size.
/// Throws std::invalid_argument if @p limit exceeds what one PML4 entry covers (512 GiB).
[[nodiscard]] IdentityPageTables build_identity_page_tables(
    std::uint64_t table_base, std::uint64_t limit, LeafSize leaf, UserAccess user);

/// The number of table pages build_identity_page_tables() needs for @p limit.
[[nodiscard]] std::size_t identity_page_table_pages(std::uint64_t limit, LeafSize leaf);

} // namespace stepvmm::x86
