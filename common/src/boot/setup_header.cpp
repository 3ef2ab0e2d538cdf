#include <stepvmm/boot/setup_header.hpp>
#include <stepvmm/os/system_error.hpp>

#include <cstring>
#include <fmt/format.h>
#include <string>

namespace stepvmm::boot {

namespace {

template<typename T>
T read_le(std::span<const std::uint8_t> image, std::size_t offset)
{
    // x86 is little-endian and so is every header field (boot.rst, "Details of Header Fields").
    T value;
    std::memcpy(&value, image.data() + offset, sizeof(T));
    return value;
}

template<typename... Args>
[[noreturn]] void fail(std::string_view name, fmt::format_string<Args...> format, Args&&... args)
{
    throw UserError(fmt::format("kernel image {}: {}", name, fmt::format(format, std::forward<Args>(args)...)));
}

}

bool looks_like_bzimage(std::span<const std::uint8_t> image)
{
    return image.size() >= setup_offset::header + 4
        && read_le<std::uint16_t>(image, setup_offset::boot_flag) == setup_constant::boot_flag
        && read_le<std::uint32_t>(image, setup_offset::header) == setup_constant::header_magic;
}

std::string format_protocol_version(std::uint16_t version)
{
    return fmt::format("{}.{:02}", version >> 8, version & 0xff);
}

BzImage parse_bzimage(std::span<const std::uint8_t> image, std::string_view name)
{
    // The loader may read just the first two sectors before it knows setup_sects (boot.rst,
    // "The Real-Mode Kernel Header"); every field stepvmm needs lies inside them.
    if (image.size() < setup_offset::end_of_known_fields)
        fail(name, "truncated: {} bytes is too short to hold the setup header (it ends at {:#x})", image.size(),
            setup_offset::end_of_known_fields);
    if (read_le<std::uint16_t>(image, setup_offset::boot_flag) != setup_constant::boot_flag)
        fail(name, "not a Linux kernel: no 0xAA55 boot flag at offset 0x1fe (an uncompressed vmlinux ELF is also accepted)");
    if (read_le<std::uint32_t>(image, setup_offset::header) != setup_constant::header_magic)
        fail(name, "no \"HdrS\" magic at offset 0x202: a pre-2.00 boot protocol kernel, too old to boot");

    SetupHeader header;
    header.version = read_le<std::uint16_t>(image, setup_offset::version);
    if (header.version < setup_constant::minimum_version)
        fail(name, "boot protocol {} is too old: stepvmm needs 2.12 or later (Linux 3.8+), whose xloadflags announce the 64-bit entry point",
            format_protocol_version(header.version));
    header.setup_sects = image[setup_offset::setup_sects];
    if (header.setup_sects == 0)
        header.setup_sects = setup_constant::default_setup_sects;
    header.loadflags = image[setup_offset::loadflags];
    header.xloadflags = read_le<std::uint16_t>(image, setup_offset::xloadflags);
    header.initrd_addr_max = read_le<std::uint32_t>(image, setup_offset::initrd_addr_max);
    header.kernel_alignment = read_le<std::uint32_t>(image, setup_offset::kernel_alignment);
    header.relocatable_kernel = image[setup_offset::relocatable_kernel] != 0;
    header.min_alignment = image[setup_offset::min_alignment];
    header.cmdline_size = read_le<std::uint32_t>(image, setup_offset::cmdline_size);
    header.pref_address = read_le<std::uint64_t>(image, setup_offset::pref_address);
    header.init_size = read_le<std::uint32_t>(image, setup_offset::init_size);
    // boot.rst, "64-bit Boot Protocol": the end of the header is 0x202 + the byte at 0x201
    // (the jump instruction's offset).
    header.header_end = setup_offset::header + image[setup_offset::jump + 1];

    if ((header.loadflags & setup_constant::loaded_high) == 0)
        fail(name, "a zImage (loadflags LOADED_HIGH clear): only bzImage kernels, loaded at 1 MiB, are supported");
    if ((header.xloadflags & setup_constant::xlf_kernel_64) == 0)
        fail(name, "not 64-bit capable: xloadflags lacks XLF_KERNEL_64, so there is no 64-bit entry point at +0x200");
    if (header.header_end < setup_offset::end_of_known_fields)
        fail(name, "setup header ends at {:#x}, before the fields protocol {} promises", header.header_end,
            format_protocol_version(header.version));

    std::size_t setup_size = (std::size_t { header.setup_sects } + 1) * setup_constant::sector_size;
    if (header.header_end > setup_size)
        fail(name, "setup header ends at {:#x}, past the {} setup sectors", header.header_end, header.setup_sects);
    if (image.size() <= setup_size)
        fail(name, "truncated: {} bytes, but the protected-mode kernel should start at {:#x}", image.size(), setup_size);
    if (header.kernel_alignment == 0 || (header.kernel_alignment & (header.kernel_alignment - 1)) != 0)
        fail(name, "kernel_alignment {:#x} is not a power of two", header.kernel_alignment);

    BzImage bzimage;
    bzimage.header = header;
    bzimage.header_bytes = image.subspan(setup_offset::setup_sects, header.header_end - setup_offset::setup_sects);
    bzimage.protected_mode = image.subspan(setup_size);
    return bzimage;
}

} // namespace stepvmm::boot
