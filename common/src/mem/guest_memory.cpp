#include <stepvmm/mem/guest_memory.hpp>

#include <fmt/format.h>

namespace stepvmm {

GuestMemory::GuestMemory(const std::vector<RamRange>& ranges, Backing backing, std::uint32_t first_slot)
    : m_backing(backing)
{
    std::uint64_t total = 0;
    for (const RamRange& range : ranges)
        total += range.size;
    check_hugetlb_pool(total, backing);
    check_host_ram(total, backing);
    std::uint32_t slot_number = first_slot;
    for (const RamRange& range : ranges) {
        for (const GuestRegion& existing : m_regions) {
            if (range.guest_physical_address < existing.range.end() && existing.range.guest_physical_address < range.end())
                throw UserError(fmt::format("RAM ranges '{}' and '{}' overlap", existing.range.name, range.name));
        }
        Mapping host = allocate_backing(range.size, backing);
        MemorySlot slot { slot_number++, range.guest_physical_address, range.size, host.data() };
        m_regions.push_back({ range, std::move(host), slot });
    }
}

std::optional<std::span<std::uint8_t>> GuestMemory::translate(std::uint64_t gpa, std::uint64_t length) const
{
    // gpa + length may wrap around 2^64: compare against the remaining room instead of the sum.
    for (const GuestRegion& region : m_regions) {
        std::uint64_t base = region.range.guest_physical_address;
        if (gpa < base || gpa - base >= region.range.size)
            continue;
        std::uint64_t offset = gpa - base;
        if (length > region.range.size - offset)
            return std::nullopt;
        return std::span<std::uint8_t>(region.host.data() + offset, static_cast<std::size_t>(length));
    }
    return std::nullopt;
}

std::span<std::uint8_t> GuestMemory::at(std::uint64_t gpa, std::uint64_t length) const
{
    auto bytes = translate(gpa, length);
    if (!bytes)
        throw GuestAccessError(fmt::format("guest-physical range [{:#x}, +{:#x}) is not guest RAM", gpa, length));
    return *bytes;
}

void GuestMemory::write_bytes(std::uint64_t gpa, std::span<const std::uint8_t> bytes) const
{
    auto destination = at(gpa, bytes.size());
    if (!bytes.empty()) // an empty span may have a null data(), which memcpy must not get
        std::memcpy(destination.data(), bytes.data(), bytes.size());
}

void GuestMemory::install(Vm& vm) const
{
    for (const GuestRegion& region : m_regions)
        vm.set_memory_slot(region.slot);
}

void GuestMemory::set_dirty_logging(Vm& vm, std::size_t index, DirtyLogging logging)
{
    GuestRegion& region = m_regions.at(index);
    region.slot.dirty_logging = logging;
    vm.set_memory_slot(region.slot);
    // Start from an empty log so the next call returns exactly what the guest wrote from now on.
    if (logging == DirtyLogging::On)
        (void)vm.fetch_dirty_bitmap(region.slot);
}

std::vector<std::uint64_t> GuestMemory::take_dirty_pages(Vm& vm, std::size_t index) const
{
    const GuestRegion& region = m_regions.at(index);
    return dirty_pages_from_bitmap(vm.fetch_dirty_bitmap(region.slot), region.range.guest_physical_address, region.range.size);
}

std::uint64_t GuestMemory::end() const
{
    std::uint64_t highest = 0;
    for (const GuestRegion& region : m_regions)
        highest = std::max(highest, region.range.end());
    return highest;
}

} // namespace stepvmm
