#include <stepvmm/mem/memory_layout.hpp>
#include <stepvmm/os/system_error.hpp>

#include <cctype>
#include <fmt/format.h>
#include <limits>

namespace stepvmm {

static constexpr std::uint64_t page_size = 4096;

std::vector<RamRange> pc_memory_layout(std::uint64_t ram_size, std::uint64_t hole_start)
{
    if (ram_size == 0 || ram_size % page_size != 0)
        throw UserError(fmt::format("guest RAM size {:#x} must be a non-zero multiple of 4 KiB", ram_size));
    if (hole_start == 0 || hole_start > four_gib || hole_start % page_size != 0)
        throw UserError(fmt::format("the device hole must start at a 4 KiB-aligned address in (0, 4 GiB], not {:#x}", hole_start));
    // x86-64 physical addresses have at most 52 bits (SDM Vol. 3A §4.1.4, MAXPHYADDR).
    static constexpr std::uint64_t physical_address_limit = 1ULL << 52;
    if (ram_size > physical_address_limit - four_gib)
        throw UserError(fmt::format("guest RAM of {:#x} bytes cannot be addressed by an x86-64 guest", ram_size));
    std::vector<RamRange> ranges;
    std::uint64_t low_size = std::min(ram_size, hole_start);
    ranges.push_back({ "low RAM", 0, low_size });
    if (ram_size > low_size)
        ranges.push_back({ "high RAM", four_gib, ram_size - low_size });
    return ranges;
}

std::uint64_t parse_size(const std::string& text)
{
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
        ++digits;
    if (digits == 0 || digits > 19)
        throw UserError(fmt::format("'{}' is not a size (examples: 512M, 4G, 65536)", text));
    std::uint64_t value = std::stoull(text.substr(0, digits));
    std::string unit = text.substr(digits);
    unsigned shift = 0;
    if (unit.empty() || unit == "B" || unit == "b")
        shift = 0;
    else if (unit == "K" || unit == "k" || unit == "KiB")
        shift = 10;
    else if (unit == "M" || unit == "m" || unit == "MiB")
        shift = 20;
    else if (unit == "G" || unit == "g" || unit == "GiB")
        shift = 30;
    else
        throw UserError(fmt::format("'{}' has an unknown size unit '{}' (use K, M or G)", text, unit));
    if (value > (std::numeric_limits<std::uint64_t>::max() >> shift))
        throw UserError(fmt::format("size '{}' is too large", text));
    return value << shift;
}

std::string format_size(std::uint64_t bytes)
{
    static constexpr const char* units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    unsigned unit = 0;
    while (unit + 1 < std::size(units) && bytes >= 1024 && bytes % 1024 == 0) {
        bytes /= 1024;
        ++unit;
    }
    return fmt::format("{} {}", bytes, units[unit]);
}

} // namespace stepvmm
