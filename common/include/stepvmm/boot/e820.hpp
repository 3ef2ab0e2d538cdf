#pragma once
/// @file
/// The e820 memory map: how a PC tells its operating system which physical ranges are RAM.
/// On a real PC the BIOS answers INT 15h, AX=E820h; a VMM that enters the kernel directly
/// writes the same table into boot_params (Documentation/arch/x86/zero-page.rst, e820_table).

#include <stepvmm/mem/memory_layout.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace stepvmm::boot {

/// e820 range types (ACPI 6.5 §15, "Address Range Types"); Linux prints them as "usable" and "reserved".
enum class E820Type : std::uint32_t {
    Ram = 1,
    Reserved = 2,
};

/// One e820 entry: 20 bytes in boot_params (u64 addr, u64 size, u32 type).
struct E820Entry {
    std::uint64_t address;
    std::uint64_t size;
    E820Type type;

    [[nodiscard]] std::uint64_t end() const { return address + size; }
    bool operator==(const E820Entry&) const = default;
};

/// The legacy PC areas below 1 MiB that are not RAM to the OS: the Extended BIOS Data Area
/// (the last KiB of the 640 KiB of conventional memory), the VGA window and the BIOS ROMs.
/// stepvmm's MP table lives in the BIOS area, so the kernel must leave it alone.
inline constexpr std::uint64_t ebda_start = 0x9fc00;
inline constexpr std::uint64_t high_memory_start = 0x100000;

/// The map a PC firmware would report for @p ram (pc_memory_layout()): RAM from 0 to the EBDA,
/// [EBDA, 1 MiB) reserved, RAM from 1 MiB to the start of the 32-bit device hole, nothing for
/// the hole itself, then any RAM above 4 GiB. Sorted, non-overlapping.
[[nodiscard]] std::vector<E820Entry> pc_e820_map(const std::vector<RamRange>& ram);

/// The line Linux prints for an entry at boot, e.g.
/// "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable" (arch/x86/kernel/e820.c).
[[nodiscard]] std::string format_like_linux(const E820Entry& entry);

} // namespace stepvmm::boot
