// Identity page tables, checked the way the CPU reads them: a small software page walk
// (Intel SDM Vol. 3A §4.5, 4-level paging) over the pages build_identity_page_tables() returns.

#include <stepvmm/x86/page_tables.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>

using namespace stepvmm::x86;

namespace {

constexpr std::uint64_t mib = 1ULL << 20;
constexpr std::uint64_t gib = 1ULL << 30;
constexpr std::uint64_t table_base = 0x10000;
using Addresses = std::initializer_list<std::uint64_t>;

// What a walk found for one virtual address.
struct Translation {
    std::uint64_t physical;
    std::uint64_t page_size; // 4 KiB, 2 MiB or 1 GiB: the level the walk stopped at
    bool user;               // U/S set on every level (SDM §4.6: rights are the intersection)
    bool writable;           // R/W set on every level
};

const PageTablePage* table_at(const IdentityPageTables& tables, std::uint64_t guest_physical_address)
{
    for (const PageTablePage& page : tables.pages) {
        if (page.guest_physical_address == guest_physical_address)
            return &page;
    }
    return nullptr;
}

// The walk: PML4 (bits 47:39) -> PDPT (38:30) -> PD (29:21) -> PT (20:12). A PDPT or PD entry
// with PS=1 maps a 1 GiB or 2 MiB page and ends the walk; PS in a PML4 entry is reserved.
std::optional<Translation> walk(const IdentityPageTables& tables, std::uint64_t virtual_address)
{
    Translation result { 0, 0, true, true };
    const PageTablePage* table = table_at(tables, tables.cr3());
    for (unsigned shift : { 39u, 30u, 21u, 12u }) {
        // An entry that points at something that is not one of the table pages is a broken table.
        REQUIRE(table != nullptr);
        std::uint64_t entry = table->entries[(virtual_address >> shift) & 511];
        if (!(entry & pte::present))
            return std::nullopt;
        result.user = result.user && (entry & pte::user);
        result.writable = result.writable && (entry & pte::writable);
        std::uint64_t address = entry & pte::address_mask;
        bool leaf = shift == 12 || (entry & pte::page_size);
        if (!leaf) {
            table = table_at(tables, address);
            continue;
        }
        REQUIRE(shift != 39); // no 512 GiB pages
        std::uint64_t page_size = 1ULL << shift;
        // In a large-page entry, address bits below the page size (except PAT, bit 12) are reserved.
        REQUIRE((address & (page_size - 1) & ~0x1000ULL) == 0);
        result.physical = (address & ~(page_size - 1)) | (virtual_address & (page_size - 1));
        result.page_size = page_size;
        return result;
    }
    return std::nullopt;
}

}

TEST_CASE("identity page tables map every address below the limit to itself", "[page_tables]")
{
    auto leaf = GENERATE(LeafSize::Size2M, LeafSize::Size1G);
    std::uint64_t limit = 4 * gib;
    auto tables = build_identity_page_tables(table_base, limit, leaf, UserAccess::Allowed);
    std::uint64_t expected_page_size = leaf == LeafSize::Size2M ? 2 * mib : gib;

    for (std::uint64_t address : Addresses { 0, 0x1234, 2 * mib - 1, 2 * mib, gib + 5, 3 * gib + gib / 2, limit - 1 }) {
        CAPTURE(address);
        auto translation = walk(tables, address);
        REQUIRE(translation.has_value());
        CHECK(translation->physical == address);
        CHECK(translation->page_size == expected_page_size);
        CHECK(translation->writable);
    }
}

TEST_CASE("identity page tables cover a limit that is not a multiple of the leaf size", "[page_tables]")
{
    auto leaf = GENERATE(LeafSize::Size2M, LeafSize::Size1G);
    std::uint64_t limit = 4 * gib + 4 * mib + 1; // RAM above the hole, plus one byte
    auto tables = build_identity_page_tables(table_base, limit, leaf, UserAccess::Allowed);
    for (std::uint64_t address : Addresses { 4 * gib, limit - 1, limit }) {
        CAPTURE(address);
        auto translation = walk(tables, address);
        REQUIRE(translation.has_value());
        CHECK(translation->physical == address);
    }
}

TEST_CASE("identity page tables leave addresses beyond the last mapped GiB unmapped", "[page_tables]")
{
    auto leaf = GENERATE(LeafSize::Size2M, LeafSize::Size1G);
    auto tables = build_identity_page_tables(table_base, 4 * gib, leaf, UserAccess::Allowed);
    CHECK_FALSE(walk(tables, 4 * gib).has_value());
    CHECK_FALSE(walk(tables, 100 * gib).has_value());
    CHECK_FALSE(walk(tables, 512 * gib).has_value()); // the second PML4 entry
}

// The limit is rounded up to the leaf size, not to the 1 GiB a page directory spans.
TEST_CASE("2 MiB identity tables map nothing beyond the limit rounded up to 2 MiB", "[page_tables]")
{
    auto tables = build_identity_page_tables(table_base, 3 * mib, LeafSize::Size2M, UserAccess::Allowed);
    CHECK(walk(tables, 4 * mib - 1).has_value());
    CHECK_FALSE(walk(tables, 4 * mib).has_value());
    CHECK_FALSE(walk(tables, gib - 1).has_value());
}

TEST_CASE("the U/S bit is set on every level exactly when user access is allowed", "[page_tables]")
{
    auto leaf = GENERATE(LeafSize::Size2M, LeafSize::Size1G);
    auto allowed = build_identity_page_tables(table_base, 2 * gib, leaf, UserAccess::Allowed);
    auto denied = build_identity_page_tables(table_base, 2 * gib, leaf, UserAccess::Denied);

    CHECK(walk(allowed, gib + 5).value().user);
    CHECK_FALSE(walk(denied, gib + 5).value().user);
    // Denied must mean no level grants it, not just the leaf.
    for (const PageTablePage& page : denied.pages) {
        for (std::uint64_t entry : page.entries)
            CHECK((entry & pte::user) == 0);
    }
    for (const PageTablePage& page : allowed.pages) {
        for (std::uint64_t entry : page.entries) {
            if (entry & pte::present)
                CHECK((entry & pte::user) != 0);
        }
    }
}

TEST_CASE("identity_page_table_pages predicts how many table pages are built", "[page_tables]")
{
    auto leaf = GENERATE(LeafSize::Size2M, LeafSize::Size1G);
    for (std::uint64_t limit : Addresses { 1, 2 * mib, gib, gib + 1, 4 * gib, 4 * gib + 4 * mib, 512 * gib }) {
        CAPTURE(limit);
        auto tables = build_identity_page_tables(table_base, limit, leaf, UserAccess::Allowed);
        CHECK(identity_page_table_pages(limit, leaf) == tables.pages.size());
    }
    // PML4 + PDPT, plus one page directory per GiB for 2 MiB leaves.
    CHECK(identity_page_table_pages(4 * gib, LeafSize::Size2M) == 6);
    CHECK(identity_page_table_pages(4 * gib, LeafSize::Size1G) == 2);
}

TEST_CASE("the PML4 is at table_base and the table pages follow it 4 KiB apart", "[page_tables]")
{
    auto leaf = GENERATE(LeafSize::Size2M, LeafSize::Size1G);
    auto tables = build_identity_page_tables(table_base, 3 * gib, leaf, UserAccess::Denied);
    CHECK(tables.cr3() == table_base);
    for (std::size_t i = 0; i < tables.pages.size(); ++i)
        CHECK(tables.pages[i].guest_physical_address == table_base + i * 4096);
}

TEST_CASE("a 512 GiB limit fills exactly one PML4 entry", "[page_tables]")
{
    auto tables = build_identity_page_tables(table_base, 512 * gib, LeafSize::Size1G, UserAccess::Allowed);
    CHECK(walk(tables, 512 * gib - 1).value().physical == 512 * gib - 1);
    CHECK(tables.pages[0].entries[1] == 0);
}

TEST_CASE("build_identity_page_tables rejects a zero or too large limit and an unaligned base", "[page_tables]")
{
    auto leaf = GENERATE(LeafSize::Size2M, LeafSize::Size1G);
    CHECK_THROWS_AS(build_identity_page_tables(table_base, 0, leaf, UserAccess::Allowed), std::invalid_argument);
    CHECK_THROWS_AS(build_identity_page_tables(table_base, 512 * gib + 1, leaf, UserAccess::Allowed), std::invalid_argument);
    CHECK_THROWS_AS(build_identity_page_tables(table_base + 8, gib, leaf, UserAccess::Allowed), std::invalid_argument);
}
