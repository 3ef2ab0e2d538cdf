#pragma once
/// @file
/// Loading a statically linked ELF64 x86-64 executable into guest RAM (System V gABI, "Program
/// Loading"): the format stepvmm's freestanding guests are linked to.

#include <cstdint>
#include <span>
#include <string_view>

namespace stepvmm {
class GuestMemory;
}

namespace stepvmm::boot {

/// Where a loaded image landed.
struct LoadedImage {
    std::uint64_t entry;       ///< e_entry
    std::uint64_t lowest_gpa;  ///< first byte of the lowest PT_LOAD segment
    std::uint64_t highest_gpa; ///< one past the last byte of the highest PT_LOAD segment (incl. .bss)
};

/// Validates @p image completely (magic, class, machine, type, program headers inside the
/// file, segments inside guest RAM, entry inside a segment), then copies every PT_LOAD segment
/// to its physical address and zeroes its .bss part. Errors are UserError texts that start
/// with @p name, so a malformed image is one clear line.
LoadedImage load_elf64(const GuestMemory& memory, std::span<const std::uint8_t> image, std::string_view name);

} // namespace stepvmm::boot
