#include <stepvmm/app/log.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/virtio/device_state.hpp>

#include <bit>
#include <stdexcept>

namespace stepvmm::virtio {

DeviceState::DeviceState(VirtioDevice& device, const GuestMemory& memory)
    : m_device(device)
    , m_memory(memory)
    , m_queue_configs(device.queue_count(), QueueConfig { .size = device.queue_max_size() })
    , m_queues(device.queue_count())
{
}

void DeviceState::set_interrupt_sink(InterruptSink& sink)
{
    std::lock_guard guard(m_lock);
    m_sink = &sink;
}

std::uint8_t DeviceState::status() const
{
    std::lock_guard guard(m_lock);
    return m_status;
}

void DeviceState::write_status(std::uint8_t value)
{
    std::lock_guard guard(m_lock);
    if (value == 0) {
        reset_locked(); // §2.4: writing 0 is the driver's device reset
        return;
    }
    // NEEDS_RESET is the device's bit; the driver neither sets nor clears it (§2.1.1).
    std::uint8_t kept_by_device = m_status & status::needs_reset;
    value &= static_cast<std::uint8_t>(~status::needs_reset);
    std::uint8_t previous = m_status & static_cast<std::uint8_t>(~status::needs_reset);
    if (std::uint8_t cleared = previous & static_cast<std::uint8_t>(~value)) {
        // §2.1.1: "The driver MUST NOT clear a device status bit" — only a reset does.
        log::warning("{}: the driver cleared status bits {:#x} without a reset; ignored", m_device.name(), cleared);
        value |= cleared;
    }
    std::uint8_t added = value & static_cast<std::uint8_t>(~previous);
    if ((added & status::features_ok) && !features_acceptable_locked()) {
        // §3.1.1 step 5-6: the device refuses by not keeping FEATURES_OK; the driver re-reads it.
        log::warning("{}: refused driver features {:#x} (offered {:#x})", m_device.name(), m_driver_features,
            m_device.offered_features());
        value &= static_cast<std::uint8_t>(~status::features_ok);
        added &= static_cast<std::uint8_t>(~status::features_ok);
    }
    if ((added & status::driver_ok) && !(value & status::features_ok)) {
        log::warning("{}: the driver set DRIVER_OK without FEATURES_OK; ignored", m_device.name());
        value &= static_cast<std::uint8_t>(~status::driver_ok);
        added &= static_cast<std::uint8_t>(~status::driver_ok);
    }
    m_status = value | kept_by_device;
    if ((added & status::driver_ok) && !kept_by_device)
        activate_locked();
}

bool DeviceState::features_acceptable_locked() const
{
    std::uint64_t offered = m_device.offered_features();
    // Only what was offered, and the modern interface: this device has no legacy mode (§6.1).
    return (m_driver_features & ~offered) == 0 && (m_driver_features & feature_bit(feature::version_1));
}

QueueFeatures DeviceState::queue_features_locked() const
{
    return QueueFeatures {
        .event_index = (m_driver_features & feature_bit(feature::event_idx)) != 0,
        .indirect_descriptors = (m_driver_features & feature_bit(feature::indirect_desc)) != 0,
    };
}

void DeviceState::activate_locked()
{
    if (!m_sink)
        throw std::logic_error("virtio DeviceState activated before its transport set an interrupt sink");
    try {
        for (std::size_t index = 0; index < m_queues.size(); ++index) {
            const QueueConfig& config = m_queue_configs[index];
            if (config.ready)
                m_queues[index].enable(m_memory,
                    QueueAddresses { config.size, config.descriptor_table, config.available_ring, config.used_ring },
                    queue_features_locked());
        }
        m_device.activate(ActiveDevice { m_memory, m_queues, m_driver_features, *m_sink });
    } catch (const GuestError& error) {
        enter_needs_reset_locked(error.what());
    }
}

void DeviceState::reset_locked()
{
    // Only an activated device holds references into guest memory to drop.
    if (m_status & status::driver_ok)
        m_device.reset();
    for (SplitQueue& queue : m_queues)
        queue.disable();
    for (QueueConfig& config : m_queue_configs)
        config = QueueConfig { .size = m_device.queue_max_size() };
    m_driver_features = 0;
    m_status = 0;
}

void DeviceState::enter_needs_reset_locked(std::string reason)
{
    log::warning("{}: the driver broke the protocol, device needs reset: {}", m_device.name(), reason);
    m_needs_reset_reason = std::move(reason);
    bool was_live = m_status & status::driver_ok;
    m_status |= status::needs_reset;
    // §2.1.2: with DRIVER_OK set, the device must announce NEEDS_RESET by a config change.
    if (was_live && m_sink)
        m_sink->config_changed();
}

std::uint32_t DeviceState::device_features_word(std::uint32_t select) const
{
    std::uint64_t offered = m_device.offered_features();
    if (select > 1)
        return 0; // features beyond bit 63 do not exist yet
    return static_cast<std::uint32_t>(offered >> (32 * select));
}

void DeviceState::write_driver_features_word(std::uint32_t select, std::uint32_t value)
{
    std::lock_guard guard(m_lock);
    if (m_status & status::features_ok) {
        log::warning("{}: driver features written after FEATURES_OK; ignored (§2.2.1)", m_device.name());
        return;
    }
    if (select > 1)
        return;
    unsigned shift = 32 * select;
    m_driver_features = (m_driver_features & ~(std::uint64_t { 0xffffffff } << shift)) | (std::uint64_t { value } << shift);
}

std::uint32_t DeviceState::driver_features_word(std::uint32_t select) const
{
    std::lock_guard guard(m_lock);
    return select > 1 ? 0 : static_cast<std::uint32_t>(m_driver_features >> (32 * select));
}

std::uint64_t DeviceState::negotiated_features() const
{
    std::lock_guard guard(m_lock);
    return (m_status & status::features_ok) ? m_driver_features : 0;
}

std::uint16_t DeviceState::queue_count() const { return static_cast<std::uint16_t>(m_queue_configs.size()); }

std::uint16_t DeviceState::queue_max_size() const { return m_device.queue_max_size(); }

QueueConfig DeviceState::queue_config(std::uint16_t index) const
{
    std::lock_guard guard(m_lock);
    return index < m_queue_configs.size() ? m_queue_configs[index] : QueueConfig {};
}

void DeviceState::write_queue_config(std::uint16_t index, const QueueConfig& config)
{
    std::lock_guard guard(m_lock);
    if (index >= m_queue_configs.size()) {
        log::warning("{}: the driver configured queue {}, which does not exist", m_device.name(), index);
        return;
    }
    QueueConfig& current = m_queue_configs[index];
    if (current.ready) {
        // §4.2.2.2 / §4.1.4.3.2: a live queue's configuration does not change; virtio-mmio
        // lets the driver stop it by writing 0 to QueueReady.
        if (!config.ready) {
            current.ready = false;
            m_queues[index].disable();
        }
        return;
    }
    if (config.ready && (config.size == 0 || config.size > m_device.queue_max_size() || !std::has_single_bit(config.size))) {
        log::warning("{}: queue {} size {} refused (max {}, a power of two)", m_device.name(), index, config.size, m_device.queue_max_size());
        QueueConfig refused = config;
        refused.ready = false;
        current = refused;
        return;
    }
    current = config;
    if (config.ready && (m_status & status::driver_ok) && !(m_status & status::needs_reset)) {
        try {
            m_queues[index].enable(m_memory, QueueAddresses { config.size, config.descriptor_table, config.available_ring, config.used_ring },
                queue_features_locked());
        } catch (const GuestError& error) {
            enter_needs_reset_locked(error.what());
        }
    }
}

std::uint32_t DeviceState::config_generation() const
{
    std::lock_guard guard(m_lock);
    return m_config_generation;
}

void DeviceState::read_config(std::uint64_t offset, std::span<std::uint8_t> data) const
{
    std::lock_guard guard(m_lock);
    m_device.read_config(offset, data);
}

void DeviceState::write_config(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    std::lock_guard guard(m_lock);
    m_device.write_config(offset, data);
}

void DeviceState::notify(std::uint16_t index)
{
    std::lock_guard guard(m_lock);
    ++m_notifications;
    if (!(m_status & status::driver_ok) || (m_status & status::needs_reset))
        return; // nothing is live: a kick before DRIVER_OK or after a breach is dropped
    if (index >= m_queues.size() || !m_queues[index].enabled()) {
        log::warning("{}: notification for queue {}, which is not enabled", m_device.name(), index);
        return;
    }
    try {
        m_device.process_queue(index);
    } catch (const GuestError& error) {
        enter_needs_reset_locked(error.what());
    }
}

void DeviceState::device_config_changed()
{
    std::lock_guard guard(m_lock);
    ++m_config_generation;
    if ((m_status & status::driver_ok) && m_sink)
        m_sink->config_changed();
}

std::uint64_t DeviceState::notifications() const
{
    std::lock_guard guard(m_lock);
    return m_notifications;
}

std::string DeviceState::needs_reset_reason() const
{
    std::lock_guard guard(m_lock);
    return m_needs_reset_reason;
}

} // namespace stepvmm::virtio
