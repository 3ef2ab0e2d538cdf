// How guest RAM is backed on the host (4K / THP / hugetlbfs), and the evidence the kernel gives
// for it in /proc/self/smaps.

#include <stepvmm/mem/backing.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>
#include <temporary_file.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace stepvmm;

using stepvmm::test::TemporaryFile;

namespace {

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
constexpr std::uint64_t gib = 1024 * mib;

// Two mappings as the kernel prints them: THP-backed anonymous memory, then a hugetlb mapping.
// (Field lines such as "Anonymous:" start with hex digits, like the header lines do.)
constexpr const char* fake_smaps = R"(7f0000000000-7f0000400000 rw-p 00000000 00:00 0
Size:               4096 kB
KernelPageSize:        4 kB
MMUPageSize:           4 kB
Rss:                3072 kB
Pss:                3072 kB
Anonymous:          3072 kB
AnonHugePages:      2048 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
THPeligible:    1
VmFlags: rd wr mr mw me ac hg
7f0000800000-7f0001000000 rw-p 00000000 00:0f 12345                      /anon_hugepage (deleted)
Size:               8192 kB
KernelPageSize:     2048 kB
MMUPageSize:        2048 kB
Rss:                   0 kB
Anonymous:             0 kB
AnonHugePages:         0 kB
Shared_Hugetlb:     2048 kB
Private_Hugetlb:    4096 kB
THPeligible:    0
VmFlags: rd wr mr mw me de ht
)";

const void* address(std::uintptr_t value) { return reinterpret_cast<const void*>(value); }

}

TEST_CASE("parse_backing and backing_name are inverses for every backing", "[backing]")
{
    for (auto backing : { Backing::Anonymous4K, Backing::TransparentHuge, Backing::Hugetlb2M, Backing::Hugetlb1G }) {
        CAPTURE(backing_name(backing));
        CHECK(parse_backing(backing_name(backing)) == backing);
    }
    CHECK(backing_name(Backing::Anonymous4K) == "4k");
    CHECK(backing_name(Backing::TransparentHuge) == "thp");
    CHECK(backing_name(Backing::Hugetlb2M) == "hugetlb-2m");
    CHECK(backing_name(Backing::Hugetlb1G) == "hugetlb-1g");
}

TEST_CASE("parse_backing returns nothing for names it does not know", "[backing]")
{
    CHECK_FALSE(parse_backing("").has_value());
    CHECK_FALSE(parse_backing("huge").has_value());
    CHECK_FALSE(parse_backing("hugetlb").has_value());
    CHECK_FALSE(parse_backing("4k ").has_value());
}

TEST_CASE("backing_page_size is the host page size each backing promises", "[backing]")
{
    CHECK(backing_page_size(Backing::Anonymous4K) == 4 * kib);
    CHECK(backing_page_size(Backing::TransparentHuge) == 2 * mib);
    CHECK(backing_page_size(Backing::Hugetlb2M) == 2 * mib);
    CHECK(backing_page_size(Backing::Hugetlb1G) == 1 * gib);
}

TEST_CASE("allocate_backing with 4K pages maps writable memory of the requested size", "[backing]")
{
    auto mapping = allocate_backing(1 * mib, Backing::Anonymous4K);
    REQUIRE(mapping.data() != nullptr);
    CHECK(mapping.size() == 1 * mib);
    mapping.data()[0] = 1;
    mapping.data()[mapping.size() - 1] = 2;
    CHECK(mapping.bytes()[0] == 1);
}

TEST_CASE("allocate_backing with THP maps memory that starts on a 2 MiB boundary", "[backing]")
{
    // THP can only place a huge page where the virtual range is 2 MiB aligned.
    for (int attempt = 0; attempt < 4; ++attempt) {
        auto mapping = allocate_backing(4 * mib, Backing::TransparentHuge);
        CHECK(mapping.size() == 4 * mib);
        CHECK(reinterpret_cast<std::uintptr_t>(mapping.data()) % (2 * mib) == 0);
        mapping.data()[mapping.size() - 1] = 1;
    }
}

TEST_CASE("allocate_backing rejects sizes that are not a multiple of the page size", "[backing]")
{
    CHECK_THROWS_AS(allocate_backing(0, Backing::Anonymous4K), UserError);
    CHECK_THROWS_AS(allocate_backing(4 * kib + 1, Backing::Anonymous4K), UserError);
    CHECK_THROWS_AS(allocate_backing(3 * mib, Backing::TransparentHuge), UserError);
    CHECK_THROWS_AS(allocate_backing(3 * mib, Backing::Hugetlb2M), UserError);
    CHECK_THROWS_AS(allocate_backing(2 * mib, Backing::Hugetlb1G), UserError);
}

TEST_CASE("inspect_backing reads the smaps entry of the mapping that holds the address", "[backing]")
{
    TemporaryFile smaps(fake_smaps);

    auto thp = inspect_backing(address(0x7f00'0012'3456), smaps.path());
    REQUIRE(thp.has_value());
    CHECK(thp->kernel_page_size_kib == 4);
    CHECK(thp->resident_kib == 3072);
    CHECK(thp->anon_huge_kib == 2048);
    CHECK(thp->hugetlb_kib == 0);

    auto hugetlb = inspect_backing(address(0x7f00'0080'0000), smaps.path()); // first byte of the second mapping
    REQUIRE(hugetlb.has_value());
    CHECK(hugetlb->kernel_page_size_kib == 2048);
    CHECK(hugetlb->anon_huge_kib == 0);
    CHECK(hugetlb->hugetlb_kib == 2048 + 4096); // Shared_Hugetlb + Private_Hugetlb
}

TEST_CASE("inspect_backing returns nothing for an address in no mapping", "[backing]")
{
    TemporaryFile smaps(fake_smaps);
    CHECK_FALSE(inspect_backing(address(0x1000), smaps.path()).has_value());
    CHECK_FALSE(inspect_backing(address(0x7f00'0040'0000), smaps.path()).has_value()); // the gap between them
    CHECK_FALSE(inspect_backing(address(0x7f00'0100'0000), smaps.path()).has_value()); // end is exclusive
    CHECK_FALSE(inspect_backing(address(0x7f00'0012'3456), "/nonexistent/smaps").has_value());
}

// The kernel never counts hugetlb pages in a mapping's Rss, so resident_kib adds them.
TEST_CASE("inspect_backing reports hugetlb pages as resident", "[backing]")
{
    TemporaryFile smaps(fake_smaps);
    auto hugetlb = inspect_backing(address(0x7f00'0080'0000), smaps.path());
    REQUIRE(hugetlb.has_value());
    CHECK(hugetlb->resident_kib == 2048 + 4096);
}

TEST_CASE("inspect_backing finds a touched 4K mapping in the real /proc/self/smaps", "[backing]")
{
    auto mapping = allocate_backing(1 * mib, Backing::Anonymous4K);
    for (std::size_t offset = 0; offset < mapping.size(); offset += 4 * kib)
        mapping.data()[offset] = 1;

    auto evidence = inspect_backing(mapping.data() + 12345);
    REQUIRE(evidence.has_value());
    CHECK(evidence->kernel_page_size_kib == 4);
    CHECK(evidence->resident_kib >= 1024); // every page was touched
    CHECK(evidence->anon_huge_kib == 0);   // MADV_NOHUGEPAGE
    CHECK(evidence->hugetlb_kib == 0);
    CHECK_FALSE(inspect_backing(nullptr).has_value());
}

TEST_CASE("check_hugetlb_pool says how to reserve pages when the pool is too small", "[backing]")
{
    try {
        check_hugetlb_pool(1024 * gib, Backing::Hugetlb2M);
        FAIL("a 1 TiB hugetlb pool is available");
    } catch (const UserError& error) {
        CHECK_THAT(error.what(), Catch::Contains("nr_hugepages") && Catch::Contains("echo")
                && Catch::Contains("524288") && Catch::Contains("hugepages-2048kB"));
    }
}

TEST_CASE("check_hugetlb_pool does nothing for backings without a pool", "[backing]")
{
    CHECK_NOTHROW(check_hugetlb_pool(1024 * gib, Backing::Anonymous4K));
    CHECK_NOTHROW(check_hugetlb_pool(1024 * gib, Backing::TransparentHuge));
}
