#pragma once
/// @file
/// struct boot_params, the "zero page": the 4 KiB a boot loader hands the kernel in RSI
/// (Documentation/arch/x86/zero-page.rst; boot.rst, "64-bit Boot Protocol"). It is kept as
/// bytes with the offsets the protocol fixes, rather than as a mirrored C struct, so every
/// field's position is written down once, next to its citation.

#include <stepvmm/boot/e820.hpp>
#include <stepvmm/boot/setup_header.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace stepvmm::boot {

/// Offsets into boot_params (zero-page.rst); the setup header keeps its file offsets.
namespace zero_page {
inline constexpr std::size_t size = 4096;
inline constexpr std::size_t ext_ramdisk_image = 0x0c0; ///< bits 63:32 of ramdisk_image
inline constexpr std::size_t ext_ramdisk_size = 0x0c4;  ///< bits 63:32 of ramdisk_size
inline constexpr std::size_t ext_cmd_line_ptr = 0x0c8;  ///< bits 63:32 of cmd_line_ptr
inline constexpr std::size_t e820_entries = 0x1e8;      ///< number of entries in e820_table
inline constexpr std::size_t sentinel = 0x1ef;          ///< must stay 0: a nonzero value tells the kernel the loader left garbage
inline constexpr std::size_t setup_header = setup_offset::setup_sects; ///< 0x1f1, the header copied from the image
inline constexpr std::size_t e820_table = 0x2d0;        ///< E820_MAX_ENTRIES_ZEROPAGE entries of 20 bytes
inline constexpr std::size_t e820_max_entries = 128;
inline constexpr std::size_t e820_entry_size = 20;
inline constexpr std::size_t eddbuf = 0xd00;            ///< the field after the e820 table
}
static_assert(zero_page::e820_table + zero_page::e820_max_entries * zero_page::e820_entry_size <= zero_page::eddbuf,
    "the e820 table must end before eddbuf (zero-page.rst)");
static_assert(zero_page::sentinel < zero_page::setup_header, "the sentinel sits just before the setup header");
static_assert(setup_offset::end_of_known_fields < zero_page::e820_table, "the setup header ends before the e820 table");

/// boot_params.hdr.type_of_loader: 0xff means "undefined" — stepvmm has no assigned id
/// (boot.rst, type_of_loader).
inline constexpr std::uint8_t loader_type_undefined = 0xff;

/// boot_params.hdr.vid_mode: 0xffff = "normal" (boot.rst, "Special Command Line Options").
inline constexpr std::uint16_t vid_mode_normal = 0xffff;

/// What the loader decided, to be written into boot_params.
struct BootParamsInput {
    /// The setup header bytes from the image (BzImage::header_bytes), or empty for a vmlinux
    /// ELF, which has no header: then a minimal one is synthesised.
    std::span<const std::uint8_t> setup_header;
    std::uint64_t command_line_address = 0;
    std::uint64_t initrd_address = 0; ///< 0 with initrd_size 0: no initrd
    std::uint64_t initrd_size = 0;
    std::vector<E820Entry> e820;
};

/// A 4 KiB zero page under construction.
class BootParams {
public:
    BootParams() { m_bytes.fill(0); }

    /// Writes @p value at @p offset (little-endian, as x86 stores it).
    template<typename T>
    void put(std::size_t offset, T value)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        std::memcpy(m_bytes.data() + offset, &value, sizeof(T));
    }

    /// Copies @p data to @p offset; throws std::out_of_range if it would run past the page.
    void put_bytes(std::size_t offset, std::span<const std::uint8_t> data)
    {
        if (offset > m_bytes.size() || data.size() > m_bytes.size() - offset)
            throw std::out_of_range("boot_params write past its 4 KiB");
        std::memcpy(m_bytes.data() + offset, data.data(), data.size());
    }

    /// Reads the value at @p offset.
    template<typename T>
    [[nodiscard]] T get(std::size_t offset) const
    {
        T value;
        std::memcpy(&value, m_bytes.data() + offset, sizeof(T));
        return value;
    }

    /// The e820 entries as written (e820_entries of them).
    [[nodiscard]] std::vector<E820Entry> e820() const;

    [[nodiscard]] const std::array<std::uint8_t, zero_page::size>& bytes() const { return m_bytes; }

private:
    std::array<std::uint8_t, zero_page::size> m_bytes;
};

/// Builds boot_params as boot.rst's 64-bit protocol says: zeroed, the image's setup header
/// copied to 0x1f1, then the loader's fields (type_of_loader, vid_mode, cmd_line_ptr,
/// ramdisk_image/size with their ext_ halves, the e820 table). Throws UserError for more
/// e820 entries than the zero page holds.
[[nodiscard]] BootParams build_boot_params(const BootParamsInput& input);

} // namespace stepvmm::boot
