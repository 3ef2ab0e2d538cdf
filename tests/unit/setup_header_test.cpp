// bzImage setup header parsing (Documentation/arch/x86/boot.rst): a real kernel from the
// Linux guest recipe, and crafted images with one defect each, which must be refused with a
// UserError that names the image and the defect.

#include <stepvmm/boot/setup_header.hpp>
#include <stepvmm/os/file.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>
#include <linux_guest.hpp>

#include <cstring>
#include <string>
#include <vector>

using namespace stepvmm;
using namespace stepvmm::boot;

namespace {

template<typename T>
void put(std::vector<std::uint8_t>& image, std::size_t offset, T value)
{
    std::memcpy(image.data() + offset, &value, sizeof(T));
}

// A minimal well-formed bzImage: 4 setup sectors (written as 0, "means 4"), boot sector,
// a protocol 2.15 header and 4 KiB of "protected-mode kernel".
std::vector<std::uint8_t> crafted_bzimage()
{
    std::vector<std::uint8_t> image(5 * 512 + 4096, 0);
    image[setup_offset::setup_sects] = 0;
    put<std::uint16_t>(image, setup_offset::boot_flag, 0xaa55);
    image[setup_offset::jump] = 0xeb;
    image[setup_offset::jump + 1] = 0x6a; // header ends at 0x26c
    put<std::uint32_t>(image, setup_offset::header, 0x53726448);
    put<std::uint16_t>(image, setup_offset::version, 0x020f);
    image[setup_offset::loadflags] = 0x01;
    put<std::uint32_t>(image, setup_offset::initrd_addr_max, 0x7fffffff);
    put<std::uint32_t>(image, setup_offset::kernel_alignment, 0x200000);
    image[setup_offset::relocatable_kernel] = 1;
    image[setup_offset::min_alignment] = 21;
    put<std::uint16_t>(image, setup_offset::xloadflags, 0x3);
    put<std::uint32_t>(image, setup_offset::cmdline_size, 2047);
    put<std::uint64_t>(image, setup_offset::pref_address, 0x1000000);
    put<std::uint32_t>(image, setup_offset::init_size, 0x800000);
    return image;
}

std::string refusal(const std::vector<std::uint8_t>& image)
{
    try {
        (void)parse_bzimage(image, "bad.img");
    } catch (const UserError& error) {
        return error.what();
    }
    FAIL("the image was accepted");
    return {};
}

}

TEST_CASE("A crafted bzImage parses into its header fields and parts", "[boot][setup_header]")
{
    auto image = crafted_bzimage();
    auto bzimage = parse_bzimage(image, "good.img");
    CHECK(bzimage.header.setup_sects == 4); // 0 means 4
    CHECK(bzimage.header.version == 0x020f);
    CHECK(bzimage.header.kernel_alignment == 0x200000);
    CHECK(bzimage.header.relocatable_kernel);
    CHECK(bzimage.header.cmdline_size == 2047);
    CHECK(bzimage.header.pref_address == 0x1000000);
    CHECK(bzimage.header.init_size == 0x800000);
    CHECK(bzimage.header.can_be_loaded_above_4g());
    CHECK(bzimage.header.header_end == 0x26c);
    CHECK(bzimage.header_bytes.size() == 0x26c - 0x1f1);
    CHECK(bzimage.protected_mode.size() == 4096);
    CHECK(bzimage.protected_mode.data() == image.data() + 5 * 512);
    CHECK(format_protocol_version(0x020c) == "2.12");
}

TEST_CASE("Defective kernel images are refused with the reason", "[boot][setup_header]")
{
    auto image = crafted_bzimage();
    SECTION("truncated inside the header")
    {
        image.resize(0x200);
        auto message = refusal(image);
        CHECK_THAT(message, Catch::Contains("bad.img") && Catch::Contains("truncated"));
    }
    SECTION("truncated before the protected-mode kernel")
    {
        image.resize(5 * 512);
        CHECK_THAT(refusal(image), Catch::Contains("truncated") && Catch::Contains("0xa00"));
    }
    SECTION("no boot flag")
    {
        put<std::uint16_t>(image, setup_offset::boot_flag, 0);
        CHECK_THAT(refusal(image), Catch::Contains("not a Linux kernel") && Catch::Contains("0xAA55"));
    }
    SECTION("no HdrS magic")
    {
        put<std::uint32_t>(image, setup_offset::header, 0x12345678);
        CHECK_THAT(refusal(image), Catch::Contains("HdrS"));
    }
    SECTION("protocol older than 2.12")
    {
        put<std::uint16_t>(image, setup_offset::version, 0x020a);
        CHECK_THAT(refusal(image), Catch::Contains("boot protocol 2.10 is too old") && Catch::Contains("2.12"));
    }
    SECTION("no 64-bit entry point")
    {
        put<std::uint16_t>(image, setup_offset::xloadflags, 0x2);
        CHECK_THAT(refusal(image), Catch::Contains("not 64-bit capable") && Catch::Contains("XLF_KERNEL_64"));
    }
    SECTION("a zImage")
    {
        image[setup_offset::loadflags] = 0;
        CHECK_THAT(refusal(image), Catch::Contains("zImage"));
    }
    SECTION("kernel_alignment not a power of two")
    {
        put<std::uint32_t>(image, setup_offset::kernel_alignment, 0x300000);
        CHECK_THAT(refusal(image), Catch::Contains("kernel_alignment"));
    }
}

TEST_CASE("The recipe's real bzImage has the header a 64-bit loader needs", "[boot][setup_header]")
{
    auto path = test::require_linux_guest_file("vmlinuz");
    auto image = read_whole_file(path, 1ULL << 30);
    REQUIRE(looks_like_bzimage(image));
    auto bzimage = parse_bzimage(image, path);
    INFO("protocol " << format_protocol_version(bzimage.header.version));
    CHECK(bzimage.header.version >= 0x020c);
    CHECK((bzimage.header.xloadflags & setup_constant::xlf_kernel_64) != 0);
    CHECK((bzimage.header.loadflags & setup_constant::loaded_high) != 0);
    CHECK(bzimage.header.relocatable_kernel);
    CHECK(bzimage.header.kernel_alignment >= 0x200000);
    CHECK(bzimage.header.cmdline_size >= 255);
    CHECK(bzimage.header.init_size > bzimage.protected_mode.size());
    CHECK(bzimage.header.initrd_addr_max >= 0x37ffffff);
    CHECK(bzimage.protected_mode.size() + (bzimage.header.setup_sects + 1u) * 512u == image.size());
}
