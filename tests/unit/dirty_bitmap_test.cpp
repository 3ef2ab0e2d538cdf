// KVM_GET_DIRTY_LOG returns one bit per 4 KiB page of a slot, in 64-bit words, bit 0 of word 0
// being the slot's first page (KVM API doc §4.8). dirty_pages_from_bitmap() turns those bits
// into guest-physical addresses.

#include <stepvmm/kvm/vm.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

using stepvmm::dirty_pages_from_bitmap;

namespace {
constexpr std::uint64_t page = 4096;
constexpr std::uint64_t slot_base = 0x1'0000'0000; // a slot at 4 GiB
using Addresses = std::vector<std::uint64_t>;
}

TEST_CASE("each set bit becomes the address of its page, offset by the slot base", "[dirty_bitmap]")
{
    // Word 0: pages 0, 3 and 63; word 1: pages 64 and 65.
    std::vector<std::uint64_t> bitmap { (1ULL << 0) | (1ULL << 3) | (1ULL << 63), 0b11 };
    CHECK(dirty_pages_from_bitmap(bitmap, slot_base, 128 * page)
        == Addresses { slot_base, slot_base + 3 * page, slot_base + 63 * page, slot_base + 64 * page, slot_base + 65 * page });
}

TEST_CASE("bits beyond the end of the slot are ignored", "[dirty_bitmap]")
{
    // KVM rounds the bitmap up to whole words; a 10-page slot uses only bits 0..9.
    std::vector<std::uint64_t> bitmap { ~0ULL, ~0ULL };
    auto pages = dirty_pages_from_bitmap(bitmap, slot_base, 10 * page);
    REQUIRE(pages.size() == 10);
    CHECK(pages.front() == slot_base);
    CHECK(pages.back() == slot_base + 9 * page);
}

TEST_CASE("a slot size that is not a page multiple counts its partial last page", "[dirty_bitmap]")
{
    std::vector<std::uint64_t> bitmap { 0b110 };
    CHECK(dirty_pages_from_bitmap(bitmap, 0, page + 1) == Addresses { page });
}

TEST_CASE("an empty or all-clear bitmap means no dirty pages", "[dirty_bitmap]")
{
    CHECK(dirty_pages_from_bitmap({}, slot_base, 128 * page).empty());
    CHECK(dirty_pages_from_bitmap({ 0, 0 }, slot_base, 128 * page).empty());
}

TEST_CASE("a bitmap shorter than the slot is read only as far as it goes", "[dirty_bitmap]")
{
    // One word for a 1000-page slot: pages past 63 cannot be reported, and must not be read.
    std::vector<std::uint64_t> bitmap { 1ULL << 63 };
    CHECK(dirty_pages_from_bitmap(bitmap, 0, 1000 * page) == Addresses { 63 * page });
}
