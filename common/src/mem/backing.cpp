#include <stepvmm/mem/backing.hpp>
#include <stepvmm/os/system_error.hpp>

#include <array>
#include <cinttypes>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <linux/mman.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

namespace stepvmm {

static constexpr std::uint64_t kib = 1024;
static constexpr std::uint64_t mib = 1024 * kib;
static constexpr std::uint64_t gib = 1024 * mib;

static constexpr std::array<std::pair<Backing, std::string_view>, 4> backing_names { {
    { Backing::Anonymous4K, "4k" },
    { Backing::TransparentHuge, "thp" },
    { Backing::Hugetlb2M, "hugetlb-2m" },
    { Backing::Hugetlb1G, "hugetlb-1g" },
} };

std::optional<Backing> parse_backing(std::string_view text)
{
    for (const auto& [backing, name] : backing_names) {
        if (name == text)
            return backing;
    }
    return std::nullopt;
}

std::string_view backing_name(Backing backing)
{
    for (const auto& [candidate, name] : backing_names) {
        if (candidate == backing)
            return name;
    }
    return "?";
}

std::uint64_t backing_page_size(Backing backing)
{
    switch (backing) {
    case Backing::Anonymous4K:
        return 4 * kib;
    case Backing::TransparentHuge:
    case Backing::Hugetlb2M:
        return 2 * mib;
    case Backing::Hugetlb1G:
        return gib;
    }
    return 4 * kib;
}

static std::uint64_t read_sysfs_number(const std::string& path)
{
    std::ifstream file(path);
    std::uint64_t value = 0;
    file >> value;
    return value;
}

static std::string hugetlb_pool(Backing backing)
{
    return fmt::format("/sys/kernel/mm/hugepages/hugepages-{}kB", backing_page_size(backing) / kib);
}

[[noreturn]] static void throw_pool_too_small(std::uint64_t size, Backing backing)
{
    std::string pool = hugetlb_pool(backing);
    std::uint64_t pages_needed = size / backing_page_size(backing);
    std::uint64_t free_pages = read_sysfs_number(pool + "/free_hugepages");
    std::uint64_t total_pages = read_sysfs_number(pool + "/nr_hugepages");
    throw UserError(fmt::format(
        "not enough {} hugepages: guest RAM needs {}, {} free of {} reserved; reserve them "
        "with: echo {} | sudo tee {}/nr_hugepages",
        backing_name(backing), pages_needed, free_pages, total_pages,
        total_pages - std::min(free_pages, total_pages) + pages_needed, pool));
}

void check_hugetlb_pool(std::uint64_t total_size, Backing backing)
{
    if (backing != Backing::Hugetlb2M && backing != Backing::Hugetlb1G)
        return;
    std::uint64_t free_pages = read_sysfs_number(hugetlb_pool(backing) + "/free_hugepages");
    if (free_pages < total_size / backing_page_size(backing))
        throw_pool_too_small(total_size, backing);
}

void check_host_ram(std::uint64_t total_size, Backing backing)
{
    if (backing == Backing::Hugetlb2M || backing == Backing::Hugetlb1G)
        return;
    long pages = ::sysconf(_SC_PHYS_PAGES);
    long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0)
        return; // unknown: let the mapping and KVM decide
    std::uint64_t host_ram = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
    if (total_size > host_ram)
        throw UserError(fmt::format("guest RAM of {} MiB is more than this host's {} MiB of physical memory; give the guest less",
            total_size / mib, host_ram / mib));
}

static Mapping allocate_hugetlb(std::uint64_t size, Backing backing)
{
    int size_flag = backing == Backing::Hugetlb1G ? MAP_HUGE_1GB : MAP_HUGE_2MB;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | size_flag;
    try {
        // Without MAP_NORESERVE the kernel reserves every page now, so a small pool fails
        // here, at start-up, instead of as a SIGBUS when the guest first touches the page.
        return Mapping::map(size, PROT_READ | PROT_WRITE, flags, -1, 0, "hugetlb guest RAM");
    } catch (const SystemError& error) {
        if (error.error_number() != ENOMEM && error.error_number() != EINVAL)
            throw;
        throw_pool_too_small(size, backing);
    }
}

// One inaccessible page after each anonymous region: the kernel would otherwise merge two
// adjacent regions into one mapping, and /proc/self/smaps could no longer tell them apart.
static constexpr std::uint64_t guard_size = 4 * kib;

static Mapping allocate_anonymous(std::uint64_t size, Backing backing)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (backing == Backing::Anonymous4K) {
        Mapping mapping = Mapping::map(size + guard_size, PROT_READ | PROT_WRITE, flags, -1, 0, "guest RAM");
        mapping.turn_tail_into_guard(guard_size);
        // With THP set to "always" the kernel would use huge pages anyway; opt out so the
        // 4K case measures what it says.
        ::madvise(mapping.data(), size, MADV_NOHUGEPAGE);
        return mapping;
    }
    // THP can only use a 2 MiB page where the virtual range is 2 MiB aligned: map with slack,
    // then keep an aligned window.
    Mapping aligned = Mapping::map_aligned(size + guard_size, 2 * mib, PROT_READ | PROT_WRITE, flags, "THP guest RAM");
    aligned.turn_tail_into_guard(guard_size);
    if (::madvise(aligned.data(), size, MADV_HUGEPAGE) != 0)
        throw SystemError("madvise MADV_HUGEPAGE", errno,
            "transparent hugepages are disabled: echo madvise | sudo tee "
            "/sys/kernel/mm/transparent_hugepage/enabled");
    return aligned;
}

Mapping allocate_backing(std::uint64_t size, Backing backing)
{
    std::uint64_t page_size = backing_page_size(backing);
    if (size == 0 || size % page_size != 0)
        throw UserError(fmt::format("guest RAM region of {:#x} bytes is not a multiple of the {} page size",
            size, backing_name(backing)));
    if (backing == Backing::Hugetlb2M || backing == Backing::Hugetlb1G)
        return allocate_hugetlb(size, backing);
    return allocate_anonymous(size, backing);
}

std::optional<BackingEvidence> inspect_backing(const void* address, std::string_view smaps_path)
{
    std::ifstream smaps { std::string(smaps_path) };
    auto target = reinterpret_cast<std::uintptr_t>(address);
    std::string line;
    bool inside = false;
    std::optional<BackingEvidence> evidence;
    while (std::getline(smaps, line)) {
        std::uintptr_t start = 0;
        std::uintptr_t end = 0;
        // Header lines look like "7f12a0000000-7f12a8000000 rw-p 00000000 00:00 0".
        if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " ", &start, &end) == 2
            && line.find(':') > line.find(' ')) {
            if (inside)
                break;
            inside = target >= start && target < end;
            if (inside)
                evidence = BackingEvidence {};
            continue;
        }
        if (!inside)
            continue;
        char key[64] = {};
        std::uint64_t value = 0;
        if (std::sscanf(line.c_str(), "%63[^:]: %" SCNu64, key, &value) != 2)
            continue;
        std::string_view name(key);
        if (name == "KernelPageSize")
            evidence->kernel_page_size_kib = value;
        else if (name == "Rss")
            evidence->resident_kib = value;
        else if (name == "AnonHugePages")
            evidence->anon_huge_kib = value;
        else if (name == "Private_Hugetlb" || name == "Shared_Hugetlb")
            evidence->hugetlb_kib += value;
    }
    // The kernel never counts hugetlb pages in Rss; they are resident all the same.
    if (evidence)
        evidence->resident_kib += evidence->hugetlb_kib;
    return evidence;
}

} // namespace stepvmm
