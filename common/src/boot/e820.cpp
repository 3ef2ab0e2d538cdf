#include <stepvmm/boot/e820.hpp>

#include <algorithm>
#include <fmt/format.h>

namespace stepvmm::boot {

std::vector<E820Entry> pc_e820_map(const std::vector<RamRange>& ram)
{
    std::vector<E820Entry> map;
    bool has_low_ram = false;
    for (const RamRange& range : ram) {
        if (range.size == 0)
            continue;
        if (range.guest_physical_address >= high_memory_start) {
            map.push_back({ range.guest_physical_address, range.size, E820Type::Ram });
            continue;
        }
        // A range starting below 1 MiB is cut around the legacy areas: conventional memory
        // up to the EBDA, then whatever lies above 1 MiB.
        has_low_ram = true;
        std::uint64_t conventional_end = std::min(range.end(), ebda_start);
        if (conventional_end > range.guest_physical_address)
            map.push_back({ range.guest_physical_address, conventional_end - range.guest_physical_address, E820Type::Ram });
        if (range.end() > high_memory_start)
            map.push_back({ high_memory_start, range.end() - high_memory_start, E820Type::Ram });
    }
    // The EBDA, VGA and BIOS area is reserved whether or not RAM backs it: the OS must not
    // allocate it, and the MP table is found there (Intel MP spec 1.4 §4.1).
    if (has_low_ram)
        map.push_back({ ebda_start, high_memory_start - ebda_start, E820Type::Reserved });
    std::sort(map.begin(), map.end(), [](const E820Entry& a, const E820Entry& b) { return a.address < b.address; });
    return map;
}

std::string format_like_linux(const E820Entry& entry)
{
    return fmt::format("BIOS-e820: [mem {:#018x}-{:#018x}] {}", entry.address, entry.end() - 1,
        entry.type == E820Type::Ram ? "usable" : "reserved");
}

} // namespace stepvmm::boot
