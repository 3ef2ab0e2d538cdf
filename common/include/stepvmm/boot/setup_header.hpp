#pragma once
/// @file
/// The bzImage setup header: what a Linux kernel image tells its boot loader about itself
/// (Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header" and "Details of Header
/// Fields"). Offsets are from the start of the image file, which is also where they sit in
/// boot_params (the "zero page"), because the header is copied there unchanged.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace stepvmm::boot {

/// File offsets of the header fields stepvmm reads or writes (boot.rst, the header table).
namespace setup_offset {
inline constexpr std::size_t setup_sects = 0x1f1;
inline constexpr std::size_t vid_mode = 0x1fa;
inline constexpr std::size_t boot_flag = 0x1fe;
inline constexpr std::size_t jump = 0x200;
inline constexpr std::size_t header = 0x202;
inline constexpr std::size_t version = 0x206;
inline constexpr std::size_t type_of_loader = 0x210;
inline constexpr std::size_t loadflags = 0x211;
inline constexpr std::size_t code32_start = 0x214;
inline constexpr std::size_t ramdisk_image = 0x218;
inline constexpr std::size_t ramdisk_size = 0x21c;
inline constexpr std::size_t heap_end_ptr = 0x224;
inline constexpr std::size_t cmd_line_ptr = 0x228;
inline constexpr std::size_t initrd_addr_max = 0x22c;
inline constexpr std::size_t kernel_alignment = 0x230;
inline constexpr std::size_t relocatable_kernel = 0x234;
inline constexpr std::size_t min_alignment = 0x235;
inline constexpr std::size_t xloadflags = 0x236;
inline constexpr std::size_t cmdline_size = 0x238;
inline constexpr std::size_t pref_address = 0x258;
inline constexpr std::size_t init_size = 0x260;
/// One past the last field this code reads (init_size, protocol 2.10+).
inline constexpr std::size_t end_of_known_fields = 0x264;
}

/// Constants the protocol fixes.
namespace setup_constant {
inline constexpr std::uint16_t boot_flag = 0xaa55;     ///< "the closest thing old kernels have to a magic number"
inline constexpr std::uint32_t header_magic = 0x53726448; ///< "HdrS"
inline constexpr std::uint8_t loaded_high = 0x01;      ///< loadflags bit 0: protected-mode code at 0x100000
inline constexpr std::uint8_t can_use_heap = 0x80;     ///< loadflags bit 7
inline constexpr std::uint16_t xlf_kernel_64 = 0x1;    ///< xloadflags bit 0: 64-bit entry point at +0x200
inline constexpr std::uint16_t xlf_can_be_loaded_above_4g = 0x2; ///< xloadflags bit 1
/// Protocol 2.12 (Linux 3.8) added xloadflags; without it the loader cannot know that the
/// kernel has a 64-bit entry point, so it is the oldest protocol stepvmm boots.
inline constexpr std::uint16_t minimum_version = 0x020c;
/// Offset of the 64-bit entry point from the start of the protected-mode kernel.
inline constexpr std::uint64_t entry_64_offset = 0x200;
/// boot.rst: if setup_sects is 0, the real value is 4.
inline constexpr std::uint8_t default_setup_sects = 4;
inline constexpr std::size_t sector_size = 512;
}

/// The header fields of a kernel image, decoded.
struct SetupHeader {
    std::uint8_t setup_sects = 0;        ///< real-mode setup size in 512-byte sectors (0 already turned into 4)
    std::uint16_t version = 0;           ///< boot protocol version, 0x020f for 2.15
    std::uint8_t loadflags = 0;
    std::uint16_t xloadflags = 0;
    std::uint32_t initrd_addr_max = 0;   ///< highest byte an initrd may occupy
    std::uint32_t kernel_alignment = 0;
    bool relocatable_kernel = false;
    std::uint8_t min_alignment = 0;      ///< log2 of the least alignment the kernel boots with
    std::uint32_t cmdline_size = 0;      ///< longest command line, without its terminating NUL
    std::uint64_t pref_address = 0;      ///< preferred load address
    std::uint32_t init_size = 0;         ///< memory the kernel needs from its runtime start before it reads the e820 map
    std::size_t header_end = 0;          ///< 0x202 + the byte at 0x201: one past the header in the file

    [[nodiscard]] bool can_be_loaded_above_4g() const { return (xloadflags & setup_constant::xlf_can_be_loaded_above_4g) != 0; }
};

/// A bzImage split into its parts.
struct BzImage {
    SetupHeader header;
    /// The header bytes [0x1f1, header_end) exactly as in the file, to copy into boot_params.
    std::span<const std::uint8_t> header_bytes;
    /// The protected-mode kernel: everything after the (setup_sects + 1) real-mode sectors.
    std::span<const std::uint8_t> protected_mode;
};

/// True if @p image starts like a bzImage (0xAA55 at 0x1fe and "HdrS" at 0x202).
[[nodiscard]] bool looks_like_bzimage(std::span<const std::uint8_t> image);

/// Validates and splits a bzImage that stepvmm can enter at its 64-bit entry point: boot
/// flag, "HdrS", protocol 2.12 or later, LOADED_HIGH, XLF_KERNEL_64, a protected-mode part
/// inside the file. Every refusal is a UserError starting with @p name.
[[nodiscard]] BzImage parse_bzimage(std::span<const std::uint8_t> image, std::string_view name);

/// "2.15" for 0x020f.
[[nodiscard]] std::string format_protocol_version(std::uint16_t version);

} // namespace stepvmm::boot
