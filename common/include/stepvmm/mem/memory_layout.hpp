#pragma once
/// @file
/// Where guest RAM lives in the guest-physical address space.

#include <cstdint>
#include <string>
#include <vector>

namespace stepvmm {

/// One range of guest RAM.
struct RamRange {
    std::string name;
    std::uint64_t guest_physical_address;
    std::uint64_t size;

    [[nodiscard]] std::uint64_t end() const { return guest_physical_address + size; }
};

/// 4 GiB: where a PC's RAM resumes above the 32-bit device window.
inline constexpr std::uint64_t four_gib = 0x1'0000'0000ULL;

/// The PC layout used by real VMMs (Firecracker, Cloud Hypervisor, QEMU's q35): RAM from 0 up
/// to @p hole_start, then a hole up to 4 GiB where 32-bit devices (MMIO, the BIOS ROM, the
/// local APIC) are decoded, then the rest of RAM from 4 GiB up. Throws UserError on a size or
/// hole that cannot be laid out (zero, unaligned, hole above 4 GiB).
[[nodiscard]] std::vector<RamRange> pc_memory_layout(std::uint64_t ram_size, std::uint64_t hole_start);

/// Parses sizes such as "512M", "4G", "65536", "2m" (binary units); throws UserError.
[[nodiscard]] std::uint64_t parse_size(const std::string& text);

/// Formats a byte count with the largest exact binary unit ("512 MiB", "4 KiB", "1536 B").
[[nodiscard]] std::string format_size(std::uint64_t bytes);

} // namespace stepvmm
