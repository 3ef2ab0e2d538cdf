#include <stepvmm/pci/config_space.hpp>

#include <bit>
#include <cstring>
#include <stdexcept>

namespace stepvmm::pci {

ConfigSpace::ConfigSpace(const Identity& identity)
{
    set16(header::vendor_id, identity.vendor_id);
    set16(header::device_id, identity.device_id);
    m_bytes[header::revision] = identity.revision;
    m_bytes[header::class_code] = static_cast<std::uint8_t>(identity.class_code);
    m_bytes[header::class_code + 1] = static_cast<std::uint8_t>(identity.class_code >> 8);
    m_bytes[header::class_code + 2] = static_cast<std::uint8_t>(identity.class_code >> 16);
    set16(header::subsystem_vendor_id, identity.subsystem_vendor_id);
    set16(header::subsystem_id, identity.subsystem_id);
    // Command: memory space, bus master and interrupt disable are what a virtual function honours.
    std::uint16_t command_writable = header::command_memory_space | header::command_bus_master | header::command_interrupt_disable;
    m_writable[header::command] = static_cast<std::uint8_t>(command_writable);
    m_writable[header::command + 1] = static_cast<std::uint8_t>(command_writable >> 8);
    m_writable[header::interrupt_line] = 0xff; // scratch for the OS (§6.2.4)
}

std::uint32_t ConfigSpace::read32(std::uint16_t offset) const
{
    std::uint32_t value;
    std::memcpy(&value, m_bytes.data() + offset, 4);
    return value;
}

void ConfigSpace::set16(std::uint16_t offset, std::uint16_t value) { std::memcpy(m_bytes.data() + offset, &value, 2); }

void ConfigSpace::set32(std::uint16_t offset, std::uint32_t value) { std::memcpy(m_bytes.data() + offset, &value, 4); }

int ConfigSpace::bar_of(std::uint16_t offset) const
{
    if (offset < header::bar0 || offset >= header::bar0 + 24)
        return -1;
    return (offset - header::bar0) / 4;
}

void ConfigSpace::read(std::uint16_t offset, std::span<std::uint8_t> data) const
{
    for (std::size_t index = 0; index < data.size(); ++index) {
        std::size_t at = offset + index;
        data[index] = at < config_space_size ? m_bytes[at] : 0xff;
    }
}

void ConfigSpace::write(std::uint16_t offset, std::span<const std::uint8_t> data)
{
    bool map_changed = false;
    std::uint16_t command_before = static_cast<std::uint16_t>(m_bytes[header::command] | m_bytes[header::command + 1] << 8);
    for (std::size_t index = 0; index < data.size(); ++index) {
        std::size_t at = offset + index;
        if (at >= config_space_size)
            break;
        if (int bar = bar_of(static_cast<std::uint16_t>(at)); bar >= 0) {
            // A 64-bit BAR's two halves as one register: the bits below its size are hard-wired
            // (zero address bits, type bits), so writing all ones reads back the size (§6.2.5.1).
            unsigned low = m_bar_sizes[bar] ? static_cast<unsigned>(bar) : (bar > 0 && m_bar_sizes[bar - 1] ? static_cast<unsigned>(bar - 1) : 6);
            if (low == 6)
                continue; // no BAR here: reads as zero
            std::uint64_t size = m_bar_sizes[low];
            std::uint64_t value;
            std::memcpy(&value, m_bytes.data() + header::bar0 + 4 * low, 8);
            unsigned shift = static_cast<unsigned>((at - header::bar0 - 4 * low) * 8);
            value = (value & ~(std::uint64_t { 0xff } << shift)) | (std::uint64_t { data[index] } << shift);
            value = (value & ~(size - 1)) | 0x4; // memory, 64-bit, not prefetchable
            std::memcpy(m_bytes.data() + header::bar0 + 4 * low, &value, 8);
            map_changed = true;
            continue;
        }
        m_bytes[at] = static_cast<std::uint8_t>((m_bytes[at] & ~m_writable[at]) | (data[index] & m_writable[at]));
    }
    std::uint16_t command_after = static_cast<std::uint16_t>(m_bytes[header::command] | m_bytes[header::command + 1] << 8);
    if ((command_before ^ command_after) & header::command_memory_space)
        map_changed = true;
    if (map_changed && on_memory_map_change)
        on_memory_map_change();
}

void ConfigSpace::add_memory_bar64(unsigned index, std::uint64_t size)
{
    if (index > 4 || size < 16 || !std::has_single_bit(size))
        throw std::invalid_argument("a 64-bit memory BAR needs two BAR slots and a power-of-two size");
    m_bar_sizes[index] = size;
    set_bar_address(index, 0);
}

std::uint64_t ConfigSpace::bar_address(unsigned index) const
{
    std::uint64_t value;
    std::memcpy(&value, m_bytes.data() + header::bar0 + 4 * index, 8);
    return value & ~std::uint64_t { 0xf };
}

void ConfigSpace::set_bar_address(unsigned index, std::uint64_t address)
{
    std::uint64_t value = (address & ~(m_bar_sizes[index] - 1)) | 0x4;
    std::memcpy(m_bytes.data() + header::bar0 + 4 * index, &value, 8);
}

bool ConfigSpace::memory_space_enabled() const { return m_bytes[header::command] & header::command_memory_space; }

std::uint8_t ConfigSpace::add_capability(std::uint8_t id, std::span<const std::uint8_t> body, std::span<const std::uint8_t> writable_mask)
{
    std::size_t length = 2 + body.size();
    std::uint8_t offset = m_next_capability;
    if (offset + length > config_space_size)
        throw std::length_error("PCI capabilities do not fit in configuration space");
    m_bytes[offset] = id;
    m_bytes[offset + 1] = 0; // the end of the list until another capability follows
    if (!body.empty())
        std::memcpy(m_bytes.data() + offset + 2, body.data(), body.size());
    for (std::size_t index = 0; index < writable_mask.size() && index < body.size(); ++index)
        m_writable[offset + 2 + index] = writable_mask[index];
    if (m_last_capability)
        m_bytes[m_last_capability + 1] = offset;
    else
        m_bytes[header::capabilities_pointer] = offset;
    m_last_capability = offset;
    // Capabilities start dword aligned (§6.7).
    m_next_capability = static_cast<std::uint8_t>((offset + length + 3) & ~std::size_t { 3 });
    std::uint16_t status = static_cast<std::uint16_t>(m_bytes[header::status] | m_bytes[header::status + 1] << 8);
    set16(header::status, status | header::status_capabilities_list);
    return offset;
}

void ConfigSpace::set_interrupt_pin(std::uint8_t pin, std::uint8_t line)
{
    m_bytes[header::interrupt_pin] = pin;
    m_bytes[header::interrupt_line] = line;
}

} // namespace stepvmm::pci
