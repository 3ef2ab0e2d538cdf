// GuestMemory: the one checked guest-physical-to-host translation (house rule 3).
// Every range below is checked against the PC layout of 8 MiB with the hole at 4 MiB:
//   low RAM  [0, 4 MiB)
//   hole     [4 MiB, 4 GiB)
//   high RAM [4 GiB, 4 GiB + 4 MiB)

#include <stepvmm/mem/guest_memory.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <limits>
#include <unistd.h>

using namespace stepvmm;

namespace {

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t low_end = 4 * mib;
constexpr std::uint64_t high_start = four_gib;
constexpr std::uint64_t high_end = four_gib + 4 * mib;
constexpr std::uint64_t all_ones = std::numeric_limits<std::uint64_t>::max();

GuestMemory make_pc_memory()
{
    return GuestMemory(pc_memory_layout(8 * mib, 4 * mib), Backing::Anonymous4K);
}

}

TEST_CASE("GuestMemory gives each RAM range its own host mapping and numbered slot", "[guest_memory]")
{
    GuestMemory memory(pc_memory_layout(8 * mib, 4 * mib), Backing::Anonymous4K, 3);
    const auto& regions = memory.regions();
    REQUIRE(regions.size() == 2);
    for (std::size_t i = 0; i < regions.size(); ++i) {
        CHECK(regions[i].host.size() == regions[i].range.size);
        CHECK(regions[i].slot.slot == 3 + i);
        CHECK(regions[i].slot.guest_physical_address == regions[i].range.guest_physical_address);
        CHECK(regions[i].slot.size == regions[i].range.size);
        CHECK(regions[i].slot.host_address == regions[i].host.data());
    }
    CHECK(memory.backing() == Backing::Anonymous4K);
}

TEST_CASE("translate maps a range inside a region to the matching host bytes", "[guest_memory]")
{
    auto memory = make_pc_memory();

    auto low = memory.translate(0x1234, 16);
    REQUIRE(low.has_value());
    CHECK(low->size() == 16);
    CHECK(low->data() == memory.regions()[0].host.data() + 0x1234);

    auto high = memory.translate(high_start + 0x5000, 8);
    REQUIRE(high.has_value());
    CHECK(high->data() == memory.regions()[1].host.data() + 0x5000);
}

TEST_CASE("translate accepts a range that ends exactly at the last byte of a region", "[guest_memory]")
{
    auto memory = make_pc_memory();
    CHECK(memory.translate(low_end - 1, 1).has_value());
    CHECK(memory.translate(low_end - 16, 16).has_value());
    CHECK(memory.translate(0, low_end).has_value());
    CHECK(memory.translate(high_end - 1, 1).has_value());
}

TEST_CASE("translate refuses a range that runs past the end of a region", "[guest_memory]")
{
    auto memory = make_pc_memory();
    CHECK_FALSE(memory.translate(low_end - 1, 2).has_value());
    CHECK_FALSE(memory.translate(0, low_end + 1).has_value());
    CHECK_FALSE(memory.translate(high_end - 4, 8).has_value());
}

TEST_CASE("translate refuses a range that spans the hole between low and high RAM", "[guest_memory]")
{
    auto memory = make_pc_memory();
    // Both ends are RAM, but the bytes between are not, and the two regions are separate
    // host mappings: no single span can describe them.
    CHECK_FALSE(memory.translate(low_end - 8, high_start - low_end + 16).has_value());
}

TEST_CASE("translate refuses a guest-physical address in the hole", "[guest_memory]")
{
    auto memory = make_pc_memory();
    CHECK_FALSE(memory.translate(low_end, 1).has_value());
    CHECK_FALSE(memory.translate(0xfee0'0000, 4).has_value()); // where the local APIC lives
    CHECK_FALSE(memory.translate(high_start - 1, 1).has_value());
    CHECK_FALSE(memory.translate(high_end, 1).has_value());
}

TEST_CASE("translate refuses ranges whose end would overflow 2^64", "[guest_memory]")
{
    auto memory = make_pc_memory();
    // gpa + length wraps around to a small number; a naive "gpa + length <= end" check passes.
    CHECK_FALSE(memory.translate(0xffff'ffff'ffff'fff0, 0x20).has_value());
    CHECK_FALSE(memory.translate(high_start, all_ones).has_value());
    CHECK_FALSE(memory.translate(0x1000, all_ones).has_value());
    CHECK_FALSE(memory.translate(1, all_ones).has_value()); // 1 + (2^64 - 1) wraps to exactly 0
}

TEST_CASE("translate of zero bytes needs its start address to be RAM", "[guest_memory]")
{
    auto memory = make_pc_memory();
    auto empty = memory.translate(0x2000, 0);
    REQUIRE(empty.has_value());
    CHECK(empty->empty());
    CHECK(memory.translate(low_end - 1, 0).has_value());
    // One past the end of a region is not RAM, even for an empty range.
    CHECK_FALSE(memory.translate(low_end, 0).has_value());
    CHECK_FALSE(memory.translate(high_end, 0).has_value());
}

TEST_CASE("at() throws GuestAccessError, a GuestError, for a range that is not RAM", "[guest_memory]")
{
    auto memory = make_pc_memory();
    CHECK(memory.at(0x1000, 8).size() == 8);
    CHECK_THROWS_AS(memory.at(low_end, 1), GuestAccessError);
    CHECK_THROWS_AS(memory.at(low_end - 1, 2), GuestError);
    CHECK_THROWS_WITH(memory.at(low_end - 1, 2), Catch::Contains("0x3fffff"));
}

namespace {
struct Record {
    std::uint64_t magic;
    std::uint32_t count;
    std::array<char, 12> name;
};
}

TEST_CASE("write and read copy a struct across a page boundary", "[guest_memory]")
{
    auto memory = make_pc_memory();
    const Record written { 0x1122'3344'5566'7788, 42, { 'c', 'r', 'o', 's', 's', 'i', 'n', 'g' } };
    for (std::uint64_t gpa : { std::uint64_t { 0x1ffa }, high_start + 0x2ffd }) {
        memory.write(gpa, written);
        auto read = memory.read<Record>(gpa);
        CHECK(read.magic == written.magic);
        CHECK(read.count == written.count);
        CHECK(read.name == written.name);
    }
    // The bytes really are in guest RAM, little-endian, where the guest would find them.
    CHECK(memory.read<std::uint8_t>(0x1ffa) == 0x88);
    CHECK(memory.read<std::uint16_t>(0x2000) == 0x1122); // the magic's top two bytes, on the next page
}

TEST_CASE("write past the end of RAM throws and changes nothing", "[guest_memory]")
{
    auto memory = make_pc_memory();
    memory.write<std::uint32_t>(low_end - 4, 0xaaaa'aaaa);
    CHECK_THROWS_AS(memory.write<std::uint64_t>(low_end - 4, 0), GuestAccessError);
    CHECK(memory.read<std::uint32_t>(low_end - 4) == 0xaaaa'aaaa);
    CHECK_THROWS_AS(memory.read<std::uint64_t>(low_end - 4), GuestAccessError);
}

TEST_CASE("write_bytes copies a byte span to guest RAM", "[guest_memory]")
{
    auto memory = make_pc_memory();
    const std::array<std::uint8_t, 4> bytes { 1, 2, 3, 4 };
    memory.write_bytes(high_start + 0x10, bytes);
    CHECK(memory.read<std::uint32_t>(high_start + 0x10) == 0x0403'0201);
    CHECK_THROWS_AS(memory.write_bytes(high_end - 2, bytes), GuestAccessError);
}

TEST_CASE("GuestMemory rejects overlapping RAM ranges with a UserError", "[guest_memory]")
{
    std::vector<RamRange> overlapping { { "first", 0, 4 * mib }, { "second", 2 * mib, 4 * mib } };
    CHECK_THROWS_AS(GuestMemory(overlapping, Backing::Anonymous4K), UserError);
    CHECK_THROWS_WITH(GuestMemory(overlapping, Backing::Anonymous4K),
        Catch::Contains("first") && Catch::Contains("second") && Catch::Contains("overlap"));
}

TEST_CASE("adjacent RAM ranges are accepted but a range never spans two of them", "[guest_memory]")
{
    GuestMemory memory({ { "first", 0, 1 * mib }, { "second", 1 * mib, 1 * mib } }, Backing::Anonymous4K);
    CHECK(memory.translate(1 * mib - 1, 1).has_value());
    CHECK(memory.translate(1 * mib, 1).has_value());
    // The two regions are separate host mappings, so one span cannot cover both.
    CHECK_FALSE(memory.translate(1 * mib - 1, 2).has_value());
}

TEST_CASE("end() is one past the highest byte of RAM", "[guest_memory]")
{
    CHECK(make_pc_memory().end() == high_end);
    GuestMemory low_only(pc_memory_layout(2 * mib, 4 * mib), Backing::Anonymous4K);
    CHECK(low_only.end() == 2 * mib);
    // Region order does not matter.
    GuestMemory reversed({ { "high", 16 * mib, 1 * mib }, { "low", 0, 1 * mib } }, Backing::Anonymous4K);
    CHECK(reversed.end() == 17 * mib);
}

TEST_CASE("guest RAM larger than the host's physical memory is refused before anything is mapped", "[guest_memory]")
{
    auto host_ram = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    std::uint64_t too_much = (host_ram / (2 * mib) + 1) * 2 * mib + 1024 * mib;
    CHECK_THROWS_WITH(GuestMemory(pc_memory_layout(too_much, 3072 * mib), Backing::Anonymous4K),
        Catch::Contains("more than this host's") && Catch::Contains(std::to_string(host_ram / mib) + " MiB"));
    CHECK_THROWS_AS(GuestMemory(pc_memory_layout(too_much, 3072 * mib), Backing::TransparentHuge), UserError);
}
