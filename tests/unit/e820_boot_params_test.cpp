// The e820 map built from the VM's RAM layout, and boot_params (the zero page) with the
// offsets Documentation/arch/x86/zero-page.rst fixes.

#include <stepvmm/boot/boot_params.hpp>
#include <stepvmm/boot/e820.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace stepvmm;
using namespace stepvmm::boot;

namespace {

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t gib = 1024 * mib;
constexpr std::uint64_t hole_start = 3 * gib;

}

TEST_CASE("e820 for RAM below the hole: conventional memory, the BIOS area reserved, RAM from 1 MiB", "[boot][e820]")
{
    auto map = pc_e820_map(pc_memory_layout(512 * mib, hole_start));
    std::vector<E820Entry> expected {
        { 0, 0x9fc00, E820Type::Ram },
        { 0x9fc00, 0x100000 - 0x9fc00, E820Type::Reserved },
        { 0x100000, 512 * mib - 0x100000, E820Type::Ram },
    };
    CHECK(map == expected);
    CHECK(format_like_linux(map[0]) == "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable");
    CHECK(format_like_linux(map[1]) == "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved");
}

TEST_CASE("e820 for RAM across the hole: the hole is not RAM, the rest resumes at 4 GiB", "[boot][e820]")
{
    auto map = pc_e820_map(pc_memory_layout(4 * gib, hole_start));
    std::vector<E820Entry> expected {
        { 0, 0x9fc00, E820Type::Ram },
        { 0x9fc00, 0x100000 - 0x9fc00, E820Type::Reserved },
        { 0x100000, hole_start - 0x100000, E820Type::Ram },
        { four_gib, gib, E820Type::Ram },
    };
    CHECK(map == expected);
    std::uint64_t ram = 0;
    for (const auto& entry : map) {
        if (entry.type == E820Type::Ram)
            ram += entry.size;
        // Nothing in the hole.
        CHECK((entry.end() <= hole_start || entry.address >= four_gib));
    }
    CHECK(ram == 4 * gib - (0x100000 - 0x9fc00));
}

TEST_CASE("e820 for tiny RAM: below the EBDA, and between the EBDA and 1 MiB", "[boot][e820]")
{
    CHECK(pc_e820_map(pc_memory_layout(256 * 1024, hole_start))
        == std::vector<E820Entry> { { 0, 256 * 1024, E820Type::Ram }, { 0x9fc00, 0x100000 - 0x9fc00, E820Type::Reserved } });
    CHECK(pc_e820_map(pc_memory_layout(0xc0000, hole_start))
        == std::vector<E820Entry> { { 0, 0x9fc00, E820Type::Ram }, { 0x9fc00, 0x100000 - 0x9fc00, E820Type::Reserved } });
    // Exactly 1 MiB: nothing above it to list.
    CHECK(pc_e820_map(pc_memory_layout(mib, hole_start)).size() == 2);
}

TEST_CASE("boot_params carries the setup header, the loader's fields and the e820 table at fixed offsets", "[boot][boot_params]")
{
    std::vector<std::uint8_t> header(0x26c - 0x1f1, 0);
    header[0x1fe - 0x1f1] = 0x55;
    header[0x1ff - 0x1f1] = 0xaa;
    header[0x211 - 0x1f1] = 0x81; // LOADED_HIGH | CAN_USE_HEAP
    header[0x236 - 0x1f1] = 0x03;
    BootParamsInput input;
    input.setup_header = header;
    input.command_line_address = 0x20000;
    input.initrd_address = 0x1'2345'6000ULL; // above 4 GiB: the ext_ halves carry bit 32
    input.initrd_size = 0x1000;
    input.e820 = pc_e820_map(pc_memory_layout(4 * gib, hole_start));
    auto params = build_boot_params(input);

    CHECK(params.get<std::uint16_t>(0x1fe) == 0xaa55);
    CHECK(params.get<std::uint16_t>(0x236) == 0x03);
    CHECK(params.get<std::uint8_t>(0x210) == 0xff);            // type_of_loader
    CHECK(params.get<std::uint8_t>(0x211) == 0x01);            // CAN_USE_HEAP cleared: there is no heap
    CHECK(params.get<std::uint16_t>(0x1fa) == 0xffff);         // vid_mode "normal"
    CHECK(params.get<std::uint32_t>(0x228) == 0x20000);        // cmd_line_ptr
    CHECK(params.get<std::uint32_t>(0x0c8) == 0);              // ext_cmd_line_ptr
    CHECK(params.get<std::uint32_t>(0x218) == 0x23456000);     // ramdisk_image
    CHECK(params.get<std::uint32_t>(0x0c0) == 1);              // ext_ramdisk_image
    CHECK(params.get<std::uint32_t>(0x21c) == 0x1000);         // ramdisk_size
    CHECK(params.get<std::uint32_t>(0x0c4) == 0);              // ext_ramdisk_size
    CHECK(params.get<std::uint8_t>(0x1ef) == 0);               // sentinel
    CHECK(params.get<std::uint8_t>(0x1e8) == 4);               // e820_entries
    CHECK(params.get<std::uint64_t>(0x2d0 + 3 * 20) == four_gib);
    CHECK(params.get<std::uint64_t>(0x2d0 + 3 * 20 + 8) == gib);
    CHECK(params.get<std::uint32_t>(0x2d0 + 1 * 20 + 16) == 2);
    CHECK(params.e820() == input.e820);
}

TEST_CASE("boot_params for a vmlinux synthesises the header magic and refuses oversized tables", "[boot][boot_params]")
{
    BootParamsInput input;
    input.command_line_address = 0x20000;
    input.e820 = pc_e820_map(pc_memory_layout(64 * mib, hole_start));
    auto params = build_boot_params(input);
    CHECK(params.get<std::uint16_t>(0x1fe) == 0xaa55);
    CHECK(params.get<std::uint32_t>(0x202) == 0x53726448);
    CHECK(params.get<std::uint16_t>(0x206) >= 0x020c);
    CHECK(params.get<std::uint32_t>(0x218) == 0); // no initrd

    input.e820.assign(129, E820Entry { 0, 4096, E820Type::Ram });
    CHECK_THROWS_AS(build_boot_params(input), UserError);
}
