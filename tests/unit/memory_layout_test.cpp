// Where guest RAM goes (pc_memory_layout) and how sizes are written (parse_size, format_size).

#include <stepvmm/mem/memory_layout.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>

using namespace stepvmm;

namespace {
constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
constexpr std::uint64_t gib = 1024 * mib;
}

TEST_CASE("pc_memory_layout puts RAM smaller than the hole in one low range", "[memory_layout]")
{
    auto ranges = pc_memory_layout(2 * mib, 3 * gib);
    REQUIRE(ranges.size() == 1);
    CHECK(ranges[0].guest_physical_address == 0);
    CHECK(ranges[0].size == 2 * mib);
    CHECK(ranges[0].end() == 2 * mib);
}

TEST_CASE("pc_memory_layout puts RAM exactly the size of the hole start in one low range", "[memory_layout]")
{
    auto ranges = pc_memory_layout(4 * mib, 4 * mib);
    REQUIRE(ranges.size() == 1);
    CHECK(ranges[0].guest_physical_address == 0);
    CHECK(ranges[0].size == 4 * mib);
}

TEST_CASE("pc_memory_layout continues RAM larger than the hole start at 4 GiB", "[memory_layout]")
{
    auto ranges = pc_memory_layout(8 * mib, 4 * mib);
    REQUIRE(ranges.size() == 2);
    CHECK(ranges[0].guest_physical_address == 0);
    CHECK(ranges[0].size == 4 * mib);
    CHECK(ranges[1].guest_physical_address == four_gib);
    CHECK(ranges[1].size == 4 * mib);
    CHECK(ranges[1].end() == four_gib + 4 * mib);

    // The usual PC split: 3 GiB low, the rest above 4 GiB.
    auto pc = pc_memory_layout(4 * gib, 3 * gib);
    REQUIRE(pc.size() == 2);
    CHECK(pc[0].size == 3 * gib);
    CHECK(pc[1].guest_physical_address == 4 * gib);
    CHECK(pc[1].size == 1 * gib);
}

TEST_CASE("pc_memory_layout with the hole at 4 GiB has no gap at all", "[memory_layout]")
{
    auto small = pc_memory_layout(1 * gib, four_gib);
    REQUIRE(small.size() == 1);
    CHECK(small[0].size == 1 * gib);

    auto large = pc_memory_layout(6 * gib, four_gib);
    REQUIRE(large.size() == 2);
    CHECK(large[0].size == 4 * gib);
    CHECK(large[1].guest_physical_address == large[0].end());
    CHECK(large[1].size == 2 * gib);
}

TEST_CASE("pc_memory_layout rejects sizes and holes it cannot lay out", "[memory_layout]")
{
    CHECK_THROWS_AS(pc_memory_layout(0, 3 * gib), UserError);
    CHECK_THROWS_AS(pc_memory_layout(4 * kib + 1, 3 * gib), UserError);
    CHECK_THROWS_AS(pc_memory_layout(8 * mib, 0), UserError);
    CHECK_THROWS_AS(pc_memory_layout(8 * mib, 0x1001), UserError);
    CHECK_THROWS_AS(pc_memory_layout(8 * mib, four_gib + 4 * kib), UserError);
}

// 2^64 - 1 GiB of RAM (what parse_size("17179869183G") returns) would put the end of high
// RAM past 2^64; no x86-64 guest can address it, so it is a UserError.
TEST_CASE("pc_memory_layout rejects RAM whose high range would end beyond 2^64", "[memory_layout]")
{
    constexpr std::uint64_t huge = 0xffff'ffff'c000'0000ULL; // 2^64 - 1 GiB
    CHECK_THROWS_AS(pc_memory_layout(huge, 3 * gib), UserError);
}

TEST_CASE("parse_size reads plain byte counts and binary K/M/G units", "[memory_layout]")
{
    CHECK(parse_size("65536") == 65536);
    CHECK(parse_size("0") == 0);
    CHECK(parse_size("10B") == 10);
    CHECK(parse_size("1K") == 1 * kib);
    CHECK(parse_size("1KiB") == 1 * kib);
    CHECK(parse_size("512M") == 512 * mib);
    CHECK(parse_size("2m") == 2 * mib);
    CHECK(parse_size("3MiB") == 3 * mib);
    CHECK(parse_size("4G") == 4 * gib);
    CHECK(parse_size("4g") == 4 * gib);
    CHECK(parse_size("1GiB") == 1 * gib);
}

TEST_CASE("parse_size rejects text that is not a size with a UserError", "[memory_layout]")
{
    CHECK_THROWS_AS(parse_size(""), UserError);
    CHECK_THROWS_AS(parse_size("M"), UserError);
    CHECK_THROWS_AS(parse_size("-1"), UserError);
    CHECK_THROWS_AS(parse_size("1.5G"), UserError);
    CHECK_THROWS_AS(parse_size("4 G"), UserError);
    CHECK_THROWS_AS(parse_size("12X"), UserError);
    CHECK_THROWS_WITH(parse_size("12X"), Catch::Contains("unit"));
}

TEST_CASE("parse_size reports sizes beyond 64 bits as a UserError, not a wrapped number", "[memory_layout]")
{
    CHECK_THROWS_AS(parse_size("99999999999G"), UserError);
    CHECK_THROWS_AS(parse_size("17179869184G"), UserError); // exactly 2^64
    CHECK(parse_size("17179869183G") == 0xffff'ffff'c000'0000ULL); // 2^64 - 1 GiB still fits
    // Too many digits for std::stoull must still be a UserError, not std::out_of_range.
    CHECK_THROWS_AS(parse_size("99999999999999999999"), UserError);
}

TEST_CASE("format_size uses the largest unit that divides the size exactly", "[memory_layout]")
{
    CHECK(format_size(0) == "0 B");
    CHECK(format_size(1536) == "1536 B");
    CHECK(format_size(4 * kib) == "4 KiB");
    CHECK(format_size(512 * mib) == "512 MiB");
    CHECK(format_size(1536 * mib) == "1536 MiB");
    CHECK(format_size(4 * gib) == "4 GiB");
    CHECK(format_size(1024 * gib) == "1 TiB");
    CHECK(format_size(1024 * 1024 * gib) == "1024 TiB");
}
