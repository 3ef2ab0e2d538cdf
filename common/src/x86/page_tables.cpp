#include <stepvmm/x86/page_tables.hpp>

#include <stdexcept>

namespace stepvmm::x86 {

static constexpr std::uint64_t page_size = 4096;
static constexpr std::uint64_t two_mib = 2ULL << 20;
static constexpr std::uint64_t one_gib = 1ULL << 30;
static constexpr std::uint64_t pml4_entry_span = 512 * one_gib;

static std::uint64_t gibs_covering(std::uint64_t limit) { return (limit + one_gib - 1) / one_gib; }

std::size_t identity_page_table_pages(std::uint64_t limit, LeafSize leaf)
{
    // PML4 + one PDPT (+ one page directory per GiB for 2 MiB leaves).
    std::size_t pages = 2;
    if (leaf == LeafSize::Size2M)
        pages += gibs_covering(limit);
    return pages;
}

IdentityPageTables build_identity_page_tables(std::uint64_t table_base, std::uint64_t limit, LeafSize leaf, UserAccess user)
{
    if (limit == 0 || limit > pml4_entry_span)
        throw std::invalid_argument("identity map limit must be in (0, 512 GiB]");
    if (table_base % page_size != 0)
        throw std::invalid_argument("page tables must be 4 KiB aligned");

    // Intermediate entries grant the widest rights; the leaves decide (SDM §4.6: the
    // effective rights are the intersection over the walk).
    std::uint64_t flags = pte::present | pte::writable | (user == UserAccess::Allowed ? pte::user : 0);

    IdentityPageTables tables;
    auto add_page = [&] {
        PageTablePage page;
        page.guest_physical_address = table_base + tables.pages.size() * page_size;
        tables.pages.push_back(page);
        return tables.pages.size() - 1;
    };
    std::size_t pml4 = add_page();
    std::size_t pdpt = add_page();
    tables.pages[pml4].entries[0] = tables.pages[pdpt].guest_physical_address | flags;

    std::uint64_t gib_count = gibs_covering(limit);
    for (std::uint64_t gib = 0; gib < gib_count; ++gib) {
        if (leaf == LeafSize::Size1G) {
            tables.pages[pdpt].entries[gib] = (gib * one_gib) | flags | pte::page_size;
            continue;
        }
        std::size_t directory = add_page();
        tables.pages[pdpt].entries[gib] = tables.pages[directory].guest_physical_address | flags;
        std::uint64_t mapped_limit = (limit + two_mib - 1) & ~(two_mib - 1);
        for (std::uint64_t entry = 0; entry < 512; ++entry) {
            std::uint64_t physical = gib * one_gib + entry * two_mib;
            if (physical >= mapped_limit)
                break; // the rest of this directory stays not-present

            tables.pages[directory].entries[entry] = physical | flags | pte::page_size;
        }
    }
    return tables;
}

} // namespace stepvmm::x86
