#pragma once
/// @file
/// How guest RAM is backed on the host: 4 KiB pages, transparent huge pages or hugetlbfs.

#include <stepvmm/os/mapping.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace stepvmm {

/// The host page size behind guest RAM. The guest's own page tables are independent of this.
/// With EPT/NPT, KVM maps guest-physical memory with pages as large as the host backing allows;
/// with shadow paging (kvm_pvm) each shadow entry is also limited by the guest's own page
/// size, so the smaller of the two wins.
enum class Backing {
    Anonymous4K,     ///< anonymous memory with THP switched off for the range (MADV_NOHUGEPAGE)
    TransparentHuge, ///< anonymous memory, 2 MiB aligned, MADV_HUGEPAGE: huge when khugepaged/faults can
    Hugetlb2M,       ///< MAP_HUGETLB | MAP_HUGE_2MB: from the reserved 2 MiB pool, or fail
    Hugetlb1G,       ///< MAP_HUGETLB | MAP_HUGE_1GB: from the reserved 1 GiB pool, or fail
};

/// Parses the command-line spelling: "4k", "thp", "hugetlb-2m", "hugetlb-1g".
[[nodiscard]] std::optional<Backing> parse_backing(std::string_view text);

/// The command-line spelling of @p backing.
[[nodiscard]] std::string_view backing_name(Backing backing);

/// The host page size a backing promises (THP promises 2 MiB only where it succeeds).
[[nodiscard]] std::uint64_t backing_page_size(Backing backing);

/// Maps @p size bytes of private host memory with the requested backing (anonymous backings
/// are followed by a hidden guard page, see Mapping::turn_tail_into_guard). Sizes must be a
/// multiple of the backing page size. When the hugetlb pool is too small the error says how
/// many pages are needed and the exact command that reserves them.
[[nodiscard]] Mapping allocate_backing(std::uint64_t size, Backing backing);

/// For hugetlb backings: throws the same UserError as allocate_backing() when the reserved pool
/// has fewer free pages than @p total_size needs, so a VM with several regions reports its
/// whole need at once. Does nothing for other backings.
void check_hugetlb_pool(std::uint64_t total_size, Backing backing);

/// For the other backings: throws a UserError when @p total_size is more than the host's
/// physical RAM. The mapping itself would succeed (MAP_NORESERVE), but KVM allocates its
/// per-page metadata for the whole slot at once — gigabytes of kernel memory for a terabyte
/// typo — and the guest could never use what it was given. Does nothing for hugetlb backings,
/// whose reserved pool check_hugetlb_pool() already measures.
void check_host_ram(std::uint64_t total_size, Backing backing);

/// What the kernel reports for the mapping that contains an address (/proc/self/smaps):
/// the evidence that a backing really is huge.
struct BackingEvidence {
    std::uint64_t kernel_page_size_kib = 0; ///< KernelPageSize: 4, 2048 or 1048576
    std::uint64_t resident_kib = 0;         ///< Rss plus hugetlb pages (which Rss never counts)
    std::uint64_t anon_huge_kib = 0;        ///< AnonHugePages: THP-backed part of Rss
    std::uint64_t hugetlb_kib = 0;          ///< Private_Hugetlb + Shared_Hugetlb
};

/// Reads the smaps entry of the mapping containing @p address; std::nullopt if none.
[[nodiscard]] std::optional<BackingEvidence> inspect_backing(const void* address,
    std::string_view smaps_path = "/proc/self/smaps");

} // namespace stepvmm
