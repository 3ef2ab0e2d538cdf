#include <stepvmm/app/log.hpp>
#include <stepvmm/virtio/mmio_transport.hpp>

#include <cstring>

namespace stepvmm::virtio {

MmioTransport::MmioTransport(DeviceState& state, io::InterruptLine& interrupt)
    : m_state(state)
    , m_interrupt(interrupt)
{
    m_state.set_interrupt_sink(*this);
}

void MmioTransport::read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    if (offset >= mmio::config) {
        // The device-specific configuration may be read in any width (§4.2.2.2).
        m_state.read_config(offset - mmio::config, data);
        return;
    }
    // §4.2.2.2: the driver MUST use 32-bit aligned accesses for the registers; others read 0.
    if (data.size() != 4 || offset % 4) {
        log::warning("{}: {}-byte read at register offset {:#x} (must be 32-bit aligned)", name(), data.size(), offset);
        std::memset(data.data(), 0, data.size());
        return;
    }
    std::uint32_t value = read_register(offset);
    std::memcpy(data.data(), &value, sizeof value);
}

void MmioTransport::write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    if (offset >= mmio::config) {
        m_state.write_config(offset - mmio::config, data);
        return;
    }
    if (data.size() != 4 || offset % 4) {
        log::warning("{}: {}-byte write at register offset {:#x} ignored (must be 32-bit aligned)", name(), data.size(), offset);
        return;
    }
    std::uint32_t value;
    std::memcpy(&value, data.data(), sizeof value);
    write_register(offset, value);
}

std::uint32_t MmioTransport::read_register(std::uint64_t offset)
{
    QueueConfig queue = m_state.queue_config(m_queue_select);
    switch (offset) {
    case mmio::magic_value:
        return mmio::magic;
    case mmio::version:
        return 2; // the modern layout; version 1 was legacy (§4.2.4)
    case mmio::device_id:
        return static_cast<std::uint32_t>(m_state.device().type());
    case mmio::vendor_id:
        return mmio::vendor;
    case mmio::device_features:
        return m_state.device_features_word(m_device_features_select);
    case mmio::queue_size_max:
        // 0 means "this queue does not exist" (§4.2.3.2).
        return m_queue_select < m_state.queue_count() ? m_state.queue_max_size() : 0;
    case mmio::queue_ready:
        return queue.ready ? 1 : 0;
    case mmio::interrupt_status: {
        std::lock_guard guard(m_interrupt_lock);
        return m_interrupt_status;
    }
    case mmio::status:
        return m_state.status();
    case mmio::shared_memory_length_low:
    case mmio::shared_memory_length_high:
        return 0xffffffff; // no shared memory regions (§4.2.2: length -1 means none)
    case mmio::config_generation:
        return m_state.config_generation();
    default:
        return 0; // write-only and reserved registers
    }
}

void MmioTransport::update_queue(const std::function<void(QueueConfig&)>& change)
{
    QueueConfig queue = m_state.queue_config(m_queue_select);
    change(queue);
    m_state.write_queue_config(m_queue_select, queue);
}

static void set_low(std::uint64_t& field, std::uint32_t value) { field = (field & 0xffffffff00000000ULL) | value; }
static void set_high(std::uint64_t& field, std::uint32_t value) { field = (field & 0xffffffffULL) | (std::uint64_t { value } << 32); }

void MmioTransport::write_register(std::uint64_t offset, std::uint32_t value)
{
    switch (offset) {
    case mmio::device_features_select:
        m_device_features_select = value;
        break;
    case mmio::driver_features_select:
        m_driver_features_select = value;
        break;
    case mmio::driver_features:
        m_state.write_driver_features_word(m_driver_features_select, value);
        break;
    case mmio::queue_select:
        m_queue_select = static_cast<std::uint16_t>(value);
        break;
    case mmio::queue_size:
        update_queue([&](QueueConfig& queue) { queue.size = static_cast<std::uint16_t>(value); });
        break;
    case mmio::queue_ready:
        update_queue([&](QueueConfig& queue) { queue.ready = value & 1; });
        break;
    case mmio::queue_descriptor_low:
        update_queue([&](QueueConfig& queue) { set_low(queue.descriptor_table, value); });
        break;
    case mmio::queue_descriptor_high:
        update_queue([&](QueueConfig& queue) { set_high(queue.descriptor_table, value); });
        break;
    case mmio::queue_driver_low:
        update_queue([&](QueueConfig& queue) { set_low(queue.available_ring, value); });
        break;
    case mmio::queue_driver_high:
        update_queue([&](QueueConfig& queue) { set_high(queue.available_ring, value); });
        break;
    case mmio::queue_device_low:
        update_queue([&](QueueConfig& queue) { set_low(queue.used_ring, value); });
        break;
    case mmio::queue_device_high:
        update_queue([&](QueueConfig& queue) { set_high(queue.used_ring, value); });
        break;
    case mmio::queue_notify:
        // Reached only without an ioeventfd for this queue: then the notify costs a full exit.
        m_state.notify(static_cast<std::uint16_t>(value));
        break;
    case mmio::interrupt_ack: {
        std::lock_guard guard(m_interrupt_lock);
        m_interrupt_status &= ~value;
        if (m_interrupt_status == 0)
            m_interrupt.set_level(false);
        break;
    }
    case mmio::status:
        m_state.write_status(static_cast<std::uint8_t>(value));
        if (value == 0) {
            // A reset also clears pending interrupts (§4.2.2.1: the device resets everything).
            std::lock_guard guard(m_interrupt_lock);
            m_interrupt_status = 0;
            m_interrupt.set_level(false);
            m_device_features_select = m_driver_features_select = 0;
            m_queue_select = 0;
        }
        break;
    default:
        log::warning("{}: write of {:#x} to read-only or reserved register {:#x} ignored", name(), value, offset);
        break;
    }
}

void MmioTransport::raise(std::uint32_t bits)
{
    std::lock_guard guard(m_interrupt_lock);
    if (m_interrupt_status == 0)
        ++m_interrupts_raised;
    m_interrupt_status |= bits;
    m_interrupt.set_level(true);
}

void MmioTransport::used_buffer(std::uint16_t) { raise(mmio::interrupt_used_buffer); }

void MmioTransport::config_changed() { raise(mmio::interrupt_config_change); }

std::vector<IoEventFdMatch> MmioTransport::notification_matches(std::uint64_t base) const
{
    std::vector<IoEventFdMatch> matches;
    for (std::uint16_t queue = 0; queue < m_state.queue_count(); ++queue)
        matches.push_back(IoEventFdMatch { IoSpace::Mmio, base + mmio::queue_notify, 4, queue });
    return matches;
}

std::uint64_t MmioTransport::interrupts_raised() const
{
    std::lock_guard guard(m_interrupt_lock);
    return m_interrupts_raised;
}

} // namespace stepvmm::virtio
