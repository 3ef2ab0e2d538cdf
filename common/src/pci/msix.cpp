#include <stepvmm/pci/msix.hpp>

#include <cstring>

namespace stepvmm::pci {

MsixTable::MsixTable(std::uint16_t vector_count, MsiDelivery& delivery)
    : m_entries(vector_count)
    , m_delivery(delivery)
{
}

bool MsixTable::masked_locked(const Entry& entry) const
{
    return m_function_masked || (entry.vector_control & msix::vector_control_mask);
}

void MsixTable::deliver_unmasked_pending_locked()
{
    if (!m_enabled)
        return;
    // §6.8.2.9: a pending message is sent as soon as its vector is unmasked.
    for (std::size_t vector = 0; vector < m_entries.size(); ++vector) {
        Entry& entry = m_entries[vector];
        if (entry.pending && !masked_locked(entry)) {
            entry.pending = false;
            ++m_sent;
            m_delivery.signal(static_cast<std::uint16_t>(vector));
        }
    }
}

void MsixTable::write_control(std::uint16_t control)
{
    std::lock_guard guard(m_lock);
    m_enabled = control & msix::control_enable;
    m_function_masked = control & msix::control_function_mask;
    deliver_unmasked_pending_locked();
}

bool MsixTable::enabled() const
{
    std::lock_guard guard(m_lock);
    return m_enabled;
}

void MsixTable::read_table(std::uint64_t offset, std::span<std::uint8_t> data) const
{
    std::lock_guard guard(m_lock);
    for (std::size_t index = 0; index < data.size(); ++index) {
        std::uint64_t at = offset + index;
        std::uint64_t vector = at / msix::entry_size;
        if (vector >= m_entries.size()) {
            data[index] = 0;
            continue;
        }
        const Entry& entry = m_entries[vector];
        std::array<std::uint8_t, msix::entry_size> bytes {};
        std::memcpy(bytes.data(), &entry.address, 8);
        std::memcpy(bytes.data() + 8, &entry.data, 4);
        std::memcpy(bytes.data() + 12, &entry.vector_control, 4);
        data[index] = bytes[at % msix::entry_size];
    }
}

void MsixTable::write_table(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    std::lock_guard guard(m_lock);
    std::vector<std::uint16_t> changed;
    for (std::size_t index = 0; index < data.size(); ++index) {
        std::uint64_t at = offset + index;
        std::uint64_t vector = at / msix::entry_size;
        if (vector >= m_entries.size())
            continue;
        Entry& entry = m_entries[vector];
        std::array<std::uint8_t, msix::entry_size> bytes {};
        std::memcpy(bytes.data(), &entry.address, 8);
        std::memcpy(bytes.data() + 8, &entry.data, 4);
        std::memcpy(bytes.data() + 12, &entry.vector_control, 4);
        bytes[at % msix::entry_size] = data[index];
        std::memcpy(&entry.address, bytes.data(), 8);
        std::memcpy(&entry.data, bytes.data() + 8, 4);
        std::memcpy(&entry.vector_control, bytes.data() + 12, 4);
        entry.vector_control &= msix::vector_control_mask; // the other bits are reserved
        if (changed.empty() || changed.back() != vector)
            changed.push_back(static_cast<std::uint16_t>(vector));
    }
    for (std::uint16_t vector : changed) {
        const Entry& entry = m_entries[vector];
        m_delivery.configure(vector, MsiMessage { entry.address, entry.data });
    }
    deliver_unmasked_pending_locked();
}

void MsixTable::read_pending(std::uint64_t offset, std::span<std::uint8_t> data) const
{
    std::lock_guard guard(m_lock);
    for (std::size_t index = 0; index < data.size(); ++index) {
        std::uint8_t byte = 0;
        for (unsigned bit = 0; bit < 8; ++bit) {
            std::uint64_t vector = (offset + index) * 8 + bit;
            if (vector < m_entries.size() && m_entries[vector].pending)
                byte = static_cast<std::uint8_t>(byte | 1 << bit);
        }
        data[index] = byte;
    }
}

void MsixTable::trigger(std::uint16_t vector)
{
    std::lock_guard guard(m_lock);
    if (vector >= m_entries.size())
        return;
    Entry& entry = m_entries[vector];
    if (masked_locked(entry) || !m_enabled) {
        entry.pending = true;
        return;
    }
    ++m_sent;
    m_delivery.signal(vector);
}

std::uint64_t MsixTable::messages_sent() const
{
    std::lock_guard guard(m_lock);
    return m_sent;
}

} // namespace stepvmm::pci
