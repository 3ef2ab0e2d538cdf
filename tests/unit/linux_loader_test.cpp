// Loading Linux into guest memory: where the kernel, the initrd, the command line and
// boot_params land, and refusals when something does not fit. Crafted images stand in for a
// kernel; the recipe's real bzImage is loaded too when it has been built.

#include <stepvmm/boot/linux_entry.hpp>
#include <stepvmm/boot/linux_loader.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/file.hpp>
#include <stepvmm/x86/gdt.hpp>

#include <catch2/catch.hpp>
#include <linux_guest.hpp>

#include <cstring>
#include <string>
#include <vector>

using namespace stepvmm;
using namespace stepvmm::boot;

namespace {

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t hole_start = 3ULL << 30;
constexpr std::uint32_t init_size = 0x800000;

template<typename T>
void put(std::vector<std::uint8_t>& image, std::size_t offset, T value)
{
    std::memcpy(image.data() + offset, &value, sizeof(T));
}

// A protocol 2.15 bzImage whose protected-mode part is @p payload bytes of 0xcc.
std::vector<std::uint8_t> crafted_bzimage(std::size_t payload = 8192, std::uint32_t cmdline_size = 255)
{
    std::vector<std::uint8_t> image(5 * 512, 0);
    image.resize(image.size() + payload, 0xcc);
    image[setup_offset::setup_sects] = 4;
    put<std::uint16_t>(image, setup_offset::boot_flag, 0xaa55);
    image[setup_offset::jump + 1] = 0x6a;
    put<std::uint32_t>(image, setup_offset::header, 0x53726448);
    put<std::uint16_t>(image, setup_offset::version, 0x020f);
    image[setup_offset::loadflags] = 0x01;
    put<std::uint32_t>(image, setup_offset::initrd_addr_max, 0x7fffffff);
    put<std::uint32_t>(image, setup_offset::kernel_alignment, 0x200000);
    image[setup_offset::relocatable_kernel] = 1;
    put<std::uint16_t>(image, setup_offset::xloadflags, 0x3);
    put<std::uint32_t>(image, setup_offset::cmdline_size, cmdline_size);
    put<std::uint64_t>(image, setup_offset::pref_address, 0x1000000);
    put<std::uint32_t>(image, setup_offset::init_size, init_size);
    return image;
}

std::string read_string(const GuestMemory& memory, std::uint64_t address)
{
    std::string text;
    while (char c = memory.read<char>(address + text.size()))
        text.push_back(c);
    return text;
}

}

TEST_CASE("A bzImage loads at 1 MiB with the initrd at the top of low RAM and boot_params filled", "[boot][linux_loader]")
{
    GuestMemory memory(pc_memory_layout(64 * mib, hole_start), Backing::Anonymous4K);
    auto kernel = crafted_bzimage();
    std::vector<std::uint8_t> initrd(10000, 0x5a);
    auto loaded = load_linux(memory, kernel, "k", std::span<const std::uint8_t>(initrd), "console=ttyS0 quiet");

    CHECK(loaded.format == KernelFormat::BzImage);
    CHECK(loaded.kernel_address == 0x100000);
    CHECK(loaded.entry == 0x100200);
    // Relocatable: runtime start = max(align_up(1 MiB, 2 MiB), pref_address 16 MiB) + init_size.
    CHECK(loaded.kernel_footprint_end == 0x1000000 + init_size);
    CHECK(memory.read<std::uint8_t>(0x100000) == 0xcc);
    CHECK(memory.read<std::uint8_t>(0x100000 + 8191) == 0xcc);

    // The initrd ends as close to the end of RAM as page alignment allows.
    CHECK(loaded.initrd_address % 4096 == 0);
    CHECK(loaded.initrd_address + initrd.size() <= 64 * mib);
    CHECK(64 * mib - (loaded.initrd_address + initrd.size()) < 4096);
    CHECK(memory.read<std::uint8_t>(loaded.initrd_address) == 0x5a);

    CHECK(read_string(memory, loaded.command_line_address) == "console=ttyS0 quiet");
    auto params = memory.read<std::array<std::uint8_t, 4096>>(loaded.boot_params_address);
    auto get32 = [&](std::size_t offset) {
        std::uint32_t value;
        std::memcpy(&value, params.data() + offset, 4);
        return value;
    };
    CHECK(get32(setup_offset::cmd_line_ptr) == loaded.command_line_address);
    CHECK(get32(setup_offset::ramdisk_image) == loaded.initrd_address);
    CHECK(get32(setup_offset::ramdisk_size) == initrd.size());
    CHECK(get32(setup_offset::header) == 0x53726448);
    CHECK(get32(setup_offset::code32_start) == 0x100000);
    CHECK(params[setup_offset::type_of_loader] == 0xff);
    CHECK(params[zero_page::e820_entries] == loaded.e820.size());
}

TEST_CASE("The initrd goes below initrd_addr_max when that is lower than the end of RAM", "[boot][linux_loader]")
{
    CHECK(place_initrd(0x1000, 0, 64 * mib, 0x7fffffff) == 64 * mib - 0x1000);
    CHECK(place_initrd(0x1800, 0, 64 * mib, 32 * mib - 1) == 32 * mib - 0x2000);
    CHECK(place_initrd(0x1000, 64 * mib, 64 * mib, 0x7fffffff) == std::nullopt);
    CHECK(place_initrd(0, 0, 64 * mib, 0x7fffffff) == std::nullopt);
    CHECK(place_initrd(128 * mib, 0, 64 * mib, 0x7fffffff) == std::nullopt);
}

TEST_CASE("The loader refuses what does not fit, naming it", "[boot][linux_loader]")
{
    auto kernel = crafted_bzimage(8192, 32);
    SECTION("a command line longer than cmdline_size")
    {
        GuestMemory memory(pc_memory_layout(64 * mib, hole_start), Backing::Anonymous4K);
        CHECK_THROWS_WITH(load_linux(memory, kernel, "k", std::nullopt, std::string(33, 'x')),
            Catch::Contains("command line is 33 bytes") && Catch::Contains("at most 32"));
        CHECK_NOTHROW(load_linux(memory, kernel, "k", std::nullopt, std::string(32, 'x')));
    }
    SECTION("RAM smaller than the kernel's init_size from its runtime start")
    {
        GuestMemory memory(pc_memory_layout(16 * mib, hole_start), Backing::Anonymous4K);
        CHECK_THROWS_WITH(load_linux(memory, kernel, "k", std::nullopt, ""),
            Catch::Contains("k: needs RAM up to 0x1800000") && Catch::Contains("more memory"));
    }
    SECTION("an initrd that does not fit above the kernel")
    {
        GuestMemory memory(pc_memory_layout(32 * mib, hole_start), Backing::Anonymous4K);
        std::vector<std::uint8_t> initrd(9 * mib, 0); // 8 MiB would just fit above the 24 MiB footprint
        CHECK_THROWS_WITH(load_linux(memory, kernel, "k", std::span<const std::uint8_t>(initrd), ""),
            Catch::Contains("initrd (9437184 bytes) does not fit"));
    }
    SECTION("a file that is neither a bzImage nor an ELF")
    {
        GuestMemory memory(pc_memory_layout(64 * mib, hole_start), Backing::Anonymous4K);
        std::vector<std::uint8_t> junk(4096, 0x11);
        CHECK_THROWS_WITH(load_linux(memory, junk, "junk", std::nullopt, ""), Catch::Contains("junk: not a Linux kernel"));
    }
}

TEST_CASE("An ELF kernel loads at its physical addresses and gets a synthesised header", "[boot][linux_loader]")
{
    // A stepvmm guest stands in for a vmlinux: statically linked ELF64, physical addresses.
    auto image = read_whole_file(STEPVMM_GUEST_DIR "/guest_ch02_memory.elf", 64 * mib);
    GuestMemory memory(pc_memory_layout(64 * mib, hole_start), Backing::Anonymous4K);
    std::vector<std::uint8_t> initrd(4096, 1);
    auto loaded = load_linux(memory, image, "vmlinux", std::span<const std::uint8_t>(initrd), "root=/dev/ram0");
    CHECK(loaded.format == KernelFormat::Elf);
    CHECK_FALSE(loaded.header);
    CHECK(loaded.entry >= loaded.kernel_address);
    CHECK(loaded.entry < loaded.kernel_footprint_end);
    CHECK(loaded.initrd_address >= loaded.kernel_footprint_end);
    CHECK(memory.read<std::uint32_t>(loaded.boot_params_address + setup_offset::header) == 0x53726448);
    CHECK(memory.read<std::uint32_t>(loaded.boot_params_address + setup_offset::cmd_line_ptr) == loaded.command_line_address);
}

TEST_CASE("The Linux entry uses __BOOT_CS 0x10 and __BOOT_DS 0x18 and maps the first 4 GiB", "[boot][linux_entry]")
{
    auto descriptors = x86::linux_boot_gdt_descriptors();
    CHECK(x86::linux_boot_selector::code == 0x10);
    CHECK(x86::linux_boot_selector::data == 0x18);
    CHECK(descriptors[0].encode() == 0);
    CHECK(descriptors[1].encode() == 0);
    auto code = descriptors[x86::linux_boot_selector::code >> 3];
    auto data = descriptors[x86::linux_boot_selector::data >> 3];
    CHECK(code.long_mode);
    CHECK(code.type == 0xb);
    CHECK(data.type == 0x3);
    CHECK((code.limit == 0xfffff && code.granularity_4k && code.base == 0)); // 4G flat
    CHECK((data.limit == 0xfffff && data.granularity_4k && data.base == 0));

    auto config = linux_long_mode_config();
    CHECK(config.gdt == x86::GdtLayout::LinuxBoot);
    CHECK(config.identity_map_limit == 0x1'0000'0000ULL);
    CHECK(x86::identity_page_table_pages(config.identity_map_limit, config.leaf) * 4096 <= config.page_table_area_size);
    // The tables must not overlap the other things the loader puts in low memory.
    LinuxLoadAddresses addresses;
    CHECK(config.page_table_address + config.page_table_area_size <= addresses.command_line);
    CHECK((addresses.boot_params + 4096 <= config.page_table_address));
    CHECK(config.gdt_address + 8 * x86::linux_boot_gdt_entries <= addresses.boot_params);
}

TEST_CASE("The recipe's real bzImage loads into 512 MiB with room for an initrd", "[boot][linux_loader]")
{
    auto path = test::require_linux_guest_file("vmlinuz");
    auto kernel = read_whole_file(path, 1ULL << 30);
    GuestMemory memory(pc_memory_layout(512 * mib, hole_start), Backing::Anonymous4K);
    std::vector<std::uint8_t> initrd(4 * mib, 0);
    auto loaded = load_linux(memory, kernel, path, std::span<const std::uint8_t>(initrd), "console=ttyS0");
    REQUIRE(loaded.header);
    CHECK(loaded.entry == 0x100200);
    CHECK(loaded.kernel_footprint_end >= loaded.header->pref_address + loaded.header->init_size);
    CHECK(loaded.initrd_address >= loaded.kernel_footprint_end);
    CHECK(loaded.initrd_address + initrd.size() <= 512 * mib);
}
