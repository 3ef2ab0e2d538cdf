#include <stepvmm/io/bus.hpp>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <stdexcept>

namespace stepvmm::io {

Bus::Bus(std::string name)
    : m_name(std::move(name))
{
}

void Bus::add(std::uint64_t base, std::uint64_t size, Device& device)
{
    if (size == 0 || base + size < base)
        throw std::invalid_argument(fmt::format("{} bus: range [{:#x}, +{:#x}) for {} is empty or wraps", m_name, base, size, device.name()));
    for (const Range& range : m_ranges) {
        if (range.decoded && base < range.base + range.size && range.base < base + size)
            throw std::invalid_argument(fmt::format("{} bus: {} at [{:#x}, +{:#x}) overlaps {} at [{:#x}, +{:#x})", m_name,
                device.name(), base, size, range.device->name(), range.base, range.size));
    }
    Range added { base, size, &device, {} };
    m_ranges.insert(std::upper_bound(m_ranges.begin(), m_ranges.end(), added, [](const Range& a, const Range& b) { return a.base < b.base; }), added);
}

void Bus::relocate(Device& device, std::optional<std::uint64_t> base)
{
    auto moving = std::find_if(m_ranges.begin(), m_ranges.end(), [&](const Range& range) { return range.device == &device; });
    if (moving == m_ranges.end())
        throw std::invalid_argument(fmt::format("{} bus: {} was never added", m_name, device.name()));
    Range range = *moving;
    m_ranges.erase(moving);
    range.decoded = base.has_value();
    if (base) {
        range.base = *base;
        if (range.size == 0 || range.base + range.size < range.base)
            throw std::invalid_argument(fmt::format("{} bus: {} cannot move to {:#x}", m_name, device.name(), *base));
        for (const Range& other : m_ranges) {
            if (other.decoded && range.base < other.base + other.size && other.base < range.base + range.size)
                throw std::invalid_argument(fmt::format("{} bus: {} moved to [{:#x}, +{:#x}) overlaps {}", m_name, device.name(),
                    range.base, range.size, other.device->name()));
        }
    }
    m_ranges.insert(std::upper_bound(m_ranges.begin(), m_ranges.end(), range, [](const Range& a, const Range& b) { return a.base < b.base; }), range);
}

Bus::Range* Bus::find(std::uint64_t address)
{
    // Few devices per bus: a linear scan is clearer than anything cleverer, and as fast.
    for (Range& range : m_ranges) {
        if (range.decoded && address >= range.base && address - range.base < range.size)
            return &range;
    }
    return nullptr;
}

void Bus::access(AccessDirection direction, std::uint64_t address, std::span<std::uint8_t> data)
{
    while (!data.empty()) {
        Range* range = find(address);
        if (!range) {
            // Unclaimed: this byte (and the following ones up to the next device) go nowhere.
            std::size_t unclaimed_bytes = 1;
            while (unclaimed_bytes < data.size() && !find(address + unclaimed_bytes))
                ++unclaimed_bytes;
            if (direction == AccessDirection::Read) {
                std::memset(data.data(), floating_bus, unclaimed_bytes);
                ++m_unclaimed.reads;
            } else {
                ++m_unclaimed.writes;
            }
            data = data.subspan(unclaimed_bytes);
            address += unclaimed_bytes;
            continue;
        }
        std::uint64_t offset = address - range->base;
        std::size_t inside = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), range->size - offset));
        if (direction == AccessDirection::Read) {
            range->device->read(offset, data.first(inside));
            ++range->counts.reads;
        } else {
            range->device->write(offset, data.first(inside));
            ++range->counts.writes;
        }
        data = data.subspan(inside);
        address += inside;
    }
}

void Bus::dispatch(const IoExit& exit)
{
    for (std::uint32_t element = 0; element < exit.count; ++element)
        access(exit.direction, exit.port, exit.data.subspan(std::size_t { element } * exit.size, exit.size));
}

AccessCounts Bus::counts_for(std::string_view name) const
{
    AccessCounts total;
    for (const Range& range : m_ranges) {
        if (range.device->name() == name) {
            total.reads += range.counts.reads;
            total.writes += range.counts.writes;
        }
    }
    return total;
}

std::map<std::string, AccessCounts, std::less<>> Bus::device_counts() const
{
    std::map<std::string, AccessCounts, std::less<>> counts;
    for (const Range& range : m_ranges) {
        AccessCounts& entry = counts[std::string(range.device->name())];
        entry.reads += range.counts.reads;
        entry.writes += range.counts.writes;
    }
    return counts;
}

} // namespace stepvmm::io
