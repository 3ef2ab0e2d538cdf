// Segment descriptors (Intel SDM Vol. 3A §3.4.5) and the flat 64-bit GDT, checked against
// the well-known descriptor values every x86-64 kernel uses.

#include <stepvmm/x86/gdt.hpp>

#include <catch2/catch.hpp>

using namespace stepvmm::x86;

namespace {
constexpr std::uint8_t code_type = 0xb; // execute/read, accessed
constexpr std::uint8_t data_type = 0x3; // read/write, accessed

constexpr std::uint64_t kernel_code_raw = 0x00af'9b00'0000'ffffULL;
constexpr std::uint64_t kernel_data_raw = 0x00cf'9300'0000'ffffULL;
constexpr std::uint64_t user_code_raw = 0x00af'fb00'0000'ffffULL;
constexpr std::uint64_t user_data_raw = 0x00cf'f300'0000'ffffULL;
}

TEST_CASE("encode packs the flat 64-bit descriptors into their well-known values", "[gdt]")
{
    CHECK(SegmentDescriptor { .type = code_type, .privilege = 0, .long_mode = true }.encode() == kernel_code_raw);
    CHECK(SegmentDescriptor { .type = data_type, .privilege = 0, .default_32bit = true }.encode() == kernel_data_raw);
    CHECK(SegmentDescriptor { .type = code_type, .privilege = 3, .long_mode = true }.encode() == user_code_raw);
    CHECK(SegmentDescriptor { .type = data_type, .privilege = 3, .default_32bit = true }.encode() == user_data_raw);
}

TEST_CASE("encode splits base and limit across the descriptor as the SDM's figure 3-8 shows", "[gdt]")
{
    SegmentDescriptor descriptor { .base = 0x1234'5678, .limit = 0xa'bcde, .type = 0, .code_or_data = false,
        .privilege = 0, .present = false, .long_mode = false, .default_32bit = false, .granularity_4k = false };
    // base 31:24 at bits 63:56, limit 19:16 at 51:48, base 23:0 at 39:16, limit 15:0 at 15:0.
    CHECK(descriptor.encode() == 0x120a'0034'5678'bcdeULL);
}

TEST_CASE("decode is the inverse of encode", "[gdt]")
{
    SegmentDescriptor original { .base = 0xfedc'ba98, .limit = 0x5'4321, .type = 0x5, .code_or_data = false,
        .privilege = 2, .present = false, .long_mode = false, .default_32bit = true, .granularity_4k = false };
    auto decoded = SegmentDescriptor::decode(original.encode());
    CHECK(decoded.base == original.base);
    CHECK(decoded.limit == original.limit);
    CHECK(decoded.type == original.type);
    CHECK(decoded.code_or_data == original.code_or_data);
    CHECK(decoded.privilege == original.privilege);
    CHECK(decoded.present == original.present);
    CHECK(decoded.long_mode == original.long_mode);
    CHECK(decoded.default_32bit == original.default_32bit);
    CHECK(decoded.granularity_4k == original.granularity_4k);

    auto user_code = SegmentDescriptor::decode(user_code_raw);
    CHECK(user_code.base == 0);
    CHECK(user_code.limit == 0xfffff);
    CHECK(user_code.type == code_type);
    CHECK(user_code.code_or_data);
    CHECK(user_code.privilege == 3);
    CHECK(user_code.present);
    CHECK(user_code.long_mode);
    CHECK_FALSE(user_code.default_32bit);
    CHECK(user_code.granularity_4k);
    CHECK(user_code.encode() == user_code_raw);
}

TEST_CASE("to_kvm_segment fills the hidden segment register with the limit scaled to bytes", "[gdt]")
{
    auto code = SegmentDescriptor::decode(kernel_code_raw).to_kvm_segment(selector::kernel_code);
    CHECK(code.base == 0);
    CHECK(code.limit == 0xffff'ffff); // 0xfffff pages of 4 KiB, last byte included
    CHECK(code.selector == selector::kernel_code);
    CHECK(code.type == code_type);
    CHECK(code.present == 1);
    CHECK(code.dpl == 0);
    CHECK(code.db == 0);
    CHECK(code.s == 1);
    CHECK(code.l == 1);
    CHECK(code.g == 1);

    auto data = SegmentDescriptor::decode(user_data_raw).to_kvm_segment(selector::user_data);
    CHECK(data.selector == selector::user_data);
    CHECK(data.type == data_type);
    CHECK(data.dpl == 3);
    CHECK(data.db == 1);
    CHECK(data.l == 0);
}

TEST_CASE("to_kvm_segment keeps a byte-granular limit as it is", "[gdt]")
{
    SegmentDescriptor real_mode_like { .base = 0xf0000, .limit = 0xffff, .type = data_type, .granularity_4k = false };
    auto segment = real_mode_like.to_kvm_segment(0xf000);
    CHECK(segment.base == 0xf0000);
    CHECK(segment.limit == 0xffff);
    CHECK(segment.g == 0);
}

TEST_CASE("flat_gdt holds a null entry, then kernel code/data and user data/code", "[gdt]")
{
    auto table = flat_gdt();
    REQUIRE(table.size() == flat_gdt_entries);
    CHECK(table[0] == 0);
    CHECK(table[selector::kernel_code >> 3] == kernel_code_raw);
    CHECK(table[selector::kernel_data >> 3] == kernel_data_raw);
    CHECK(table[selector::user_data >> 3] == user_data_raw);
    CHECK(table[selector::user_code >> 3] == user_code_raw);

    auto descriptors = flat_gdt_descriptors();
    for (std::size_t i = 0; i < descriptors.size(); ++i)
        CHECK(descriptors[i].encode() == table[i]);
}

TEST_CASE("each selector's RPL matches the DPL of the descriptor it selects", "[gdt]")
{
    auto descriptors = flat_gdt_descriptors();
    for (std::uint16_t value : { selector::kernel_code, selector::kernel_data, selector::user_data, selector::user_code }) {
        CAPTURE(value);
        REQUIRE((value >> 3) < descriptors.size());
        CHECK((value & 4) == 0); // TI = 0: the GDT, not an LDT
        CHECK(descriptors[value >> 3].privilege == (value & 3));
        CHECK(descriptors[value >> 3].present);
    }
}

TEST_CASE("the selector order satisfies SYSCALL and SYSRET (SDM Vol. 2B)", "[gdt]")
{
    // SYSCALL: CS = STAR[47:32], SS = STAR[47:32] + 8, with STAR[47:32] = kernel_code.
    CHECK(selector::kernel_data == selector::kernel_code + 8);
    // 64-bit SYSRET: CS = STAR[63:48] + 16 | 3, SS = STAR[63:48] + 8 | 3, with STAR[63:48] = kernel_data.
    CHECK(selector::user_code == ((selector::kernel_data + 16) | 3));
    CHECK(selector::user_data == ((selector::kernel_data + 8) | 3));
    auto descriptors = flat_gdt_descriptors();
    CHECK(descriptors[selector::user_code >> 3].long_mode);
    CHECK(descriptors[selector::kernel_code >> 3].long_mode);
}
