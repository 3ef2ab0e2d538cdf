#include <stepvmm/app/log.hpp>
#include <stepvmm/virtio/pci_transport.hpp>

#include <array>
#include <cstring>

namespace stepvmm::virtio {

using namespace pci_layout;

namespace {

constexpr std::uint16_t virtio_vendor = 0x1af4;
/// Modern device IDs are 0x1040 + the virtio device type (§4.1.2.1).
constexpr std::uint16_t modern_device_base = 0x1040;
constexpr std::uint8_t vendor_capability_id = 0x09;

std::uint32_t class_code_for(DeviceType type)
{
    switch (type) {
    case DeviceType::Block:
        return 0x018000; // mass storage, other
    case DeviceType::Network:
        return 0x020000; // Ethernet controller
    }
    return 0xff0000;
}

struct Field {
    std::uint64_t offset;
    unsigned width;
};
/// The common configuration structure's fields (§4.1.4.3), in order.
constexpr std::array<Field, 16> common_fields { {
    { device_feature_select, 4 }, { device_feature, 4 }, { driver_feature_select, 4 }, { driver_feature, 4 },
    { config_msix_vector, 2 }, { num_queues, 2 }, { device_status, 1 }, { config_generation, 1 },
    { queue_select, 2 }, { queue_size, 2 }, { queue_msix_vector, 2 }, { queue_enable, 2 },
    { queue_notify_off, 2 }, { queue_desc, 8 }, { queue_driver, 8 }, { queue_device, 8 },
} };

void put_le(std::span<std::uint8_t> bytes, std::size_t offset, std::uint64_t value, unsigned width)
{
    std::memcpy(bytes.data() + offset, &value, width);
}

} // namespace

PciTransport::PciTransport(DeviceState& state, pci::MsiDelivery& msi, io::InterruptLine& intx, std::uint8_t intx_gsi)
    : m_state(state)
    , m_config(pci::Identity {
          virtio_vendor,
          static_cast<std::uint16_t>(modern_device_base + static_cast<std::uint16_t>(state.device().type())),
          class_code_for(state.device().type()),
          1, // §4.1.2.1: a non-transitional device has revision 1 or higher
          virtio_vendor,
          0x40, // §4.1.2.1: and SHOULD have a subsystem ID of 0x40 or higher
      })
    , m_msix(static_cast<std::uint16_t>(state.queue_count() + 1), msi)
    , m_intx(intx)
    , m_queue_vectors(state.queue_count(), no_vector)
{
    m_state.set_interrupt_sink(*this);
    m_config.add_memory_bar64(0, bar_size);
    m_config.set_interrupt_pin(1, intx_gsi); // INTA#

    add_virtio_capability(cap_common, common, common_size);
    std::array<std::uint8_t, 4> multiplier {};
    put_le(multiplier, 0, notify_multiplier, 4);
    add_virtio_capability(cap_notify, notify, std::uint64_t { notify_multiplier } * state.queue_count(), multiplier);
    add_virtio_capability(cap_isr, isr, 1);
    add_virtio_capability(cap_device, device, device_size);
    // §4.1.4.9: the PCI configuration access capability, a window onto the BARs through
    // configuration space for drivers that cannot map them yet. Its bar, offset, length and
    // data fields are driver-writable.
    std::array<std::uint8_t, 18> pci_cfg_body {};
    pci_cfg_body[0] = 20;
    pci_cfg_body[1] = cap_pci_cfg;
    std::array<std::uint8_t, 18> pci_cfg_writable {};
    pci_cfg_writable[2] = 0xff;
    for (std::size_t index = 6; index < 18; ++index)
        pci_cfg_writable[index] = 0xff;
    m_pci_cfg_capability = m_config.add_capability(vendor_capability_id, pci_cfg_body, pci_cfg_writable);

    // MSI-X (PCI 3.0 §6.8.2): table size N-1, table and pending bits in BAR0.
    std::array<std::uint8_t, 10> msix_body {};
    put_le(msix_body, 0, m_msix.vector_count() - 1U, 2);
    put_le(msix_body, 2, msix_table, 4);   // BIR 0
    put_le(msix_body, 6, msix_pending, 4); // BIR 0
    std::array<std::uint8_t, 10> msix_writable { 0, 0xc0 }; // enable and function mask
    m_msix_capability = m_config.add_capability(pci::msix::capability_id, msix_body, msix_writable);
}

void PciTransport::add_virtio_capability(std::uint8_t type, std::uint64_t offset, std::uint64_t length, std::span<const std::uint8_t> extra)
{
    // struct virtio_pci_cap after cap_vndr and cap_next (§4.1.4): cap_len, cfg_type, bar, id,
    // padding[2], offset, length, then type-specific fields.
    std::vector<std::uint8_t> body(14 + extra.size(), 0);
    body[0] = static_cast<std::uint8_t>(16 + extra.size());
    body[1] = type;
    body[2] = 0; // BAR0
    put_le(body, 6, offset, 4);
    put_le(body, 10, length, 4);
    if (!extra.empty())
        std::memcpy(body.data() + 14, extra.data(), extra.size());
    m_config.add_capability(vendor_capability_id, body);
}

void PciTransport::read_config(std::uint16_t offset, std::span<std::uint8_t> data)
{
    std::uint16_t window = static_cast<std::uint16_t>(m_pci_cfg_capability + 16);
    if (offset >= window && offset < window + 4) {
        // The pci_cfg_data window: an access to the BAR named by the capability (§4.1.4.9.1).
        std::uint8_t bar = m_config.byte(static_cast<std::uint16_t>(m_pci_cfg_capability + 4));
        std::uint32_t bar_offset = m_config.read32(static_cast<std::uint16_t>(m_pci_cfg_capability + 8));
        std::uint32_t length = m_config.read32(static_cast<std::uint16_t>(m_pci_cfg_capability + 12));
        std::memset(data.data(), 0, data.size());
        if (bar == 0 && (length == 1 || length == 2 || length == 4) && bar_offset % length == 0 && data.size() >= length)
            read_bar(bar_offset, data.first(length));
        return;
    }
    m_config.read(offset, data);
}

void PciTransport::write_config(std::uint16_t offset, std::span<const std::uint8_t> data)
{
    std::uint16_t window = static_cast<std::uint16_t>(m_pci_cfg_capability + 16);
    if (offset >= window && offset < window + 4) {
        std::uint8_t bar = m_config.byte(static_cast<std::uint16_t>(m_pci_cfg_capability + 4));
        std::uint32_t bar_offset = m_config.read32(static_cast<std::uint16_t>(m_pci_cfg_capability + 8));
        std::uint32_t length = m_config.read32(static_cast<std::uint16_t>(m_pci_cfg_capability + 12));
        if (bar == 0 && (length == 1 || length == 2 || length == 4) && bar_offset % length == 0 && data.size() >= length)
            write_bar(bar_offset, data.first(length));
        return;
    }
    m_config.write(offset, data);
    std::uint16_t control_offset = static_cast<std::uint16_t>(m_msix_capability + 2);
    if (offset <= control_offset + 1 && offset + data.size() > control_offset)
        m_msix.write_control(static_cast<std::uint16_t>(m_config.byte(control_offset) | m_config.byte(static_cast<std::uint16_t>(control_offset + 1)) << 8));
}

void PciTransport::assign_bar_as_firmware(std::uint64_t address)
{
    m_config.set_bar_address(0, address);
    m_config.set_byte(pci::header::command,
        static_cast<std::uint8_t>(m_config.byte(pci::header::command) | pci::header::command_memory_space | pci::header::command_bus_master));
}

std::optional<std::uint64_t> PciTransport::decoded_bar_address() const
{
    if (!m_config.memory_space_enabled() || m_config.bar_address(0) == 0)
        return std::nullopt;
    return m_config.bar_address(0);
}

std::vector<IoEventFdMatch> PciTransport::notification_matches() const
{
    std::vector<IoEventFdMatch> matches;
    auto base = decoded_bar_address();
    if (!base)
        return matches;
    // §4.1.4.4: the driver writes the 16-bit queue index at its queue's notify address.
    for (std::uint16_t queue = 0; queue < m_state.queue_count(); ++queue)
        matches.push_back(IoEventFdMatch { IoSpace::Mmio, *base + notify + std::uint64_t { notify_multiplier } * queue, 2, std::nullopt });
    return matches;
}

void PciTransport::read_bar(std::uint64_t offset, std::span<std::uint8_t> data)
{
    std::memset(data.data(), 0, data.size());
    if (offset < common + common_size) {
        std::array<std::uint8_t, common_size> snapshot {};
        for (const Field& field : common_fields)
            put_le(snapshot, field.offset, read_common_field(field.offset), field.width);
        for (std::size_t index = 0; index < data.size() && offset + index < common_size; ++index)
            data[index] = snapshot[offset + index];
    } else if (offset == isr) {
        // §4.1.4.5: reading ISR status clears it and de-asserts the INTx line.
        std::lock_guard guard(m_isr_lock);
        data[0] = m_isr;
        m_isr = 0;
        m_intx.set_level(false);
    } else if (offset >= device && offset < device + device_size) {
        m_state.read_config(offset - device, data);
    } else if (offset >= msix_table && offset < msix_table + m_msix.table_size()) {
        m_msix.read_table(offset - msix_table, data);
    } else if (offset >= msix_pending && offset < msix_pending + m_msix.pending_array_size()) {
        m_msix.read_pending(offset - msix_pending, data);
    }
}

void PciTransport::write_bar(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    if (offset < common + common_size) {
        for (const Field& field : common_fields) {
            if (offset + data.size() <= field.offset || offset >= field.offset + field.width)
                continue;
            // Merge the written bytes into the field's current value: a 64-bit address may
            // arrive as two 32-bit halves (§4.1.3.1).
            std::array<std::uint8_t, 8> value {};
            put_le(value, 0, read_common_field(field.offset), field.width);
            for (std::size_t index = 0; index < data.size(); ++index) {
                std::uint64_t at = offset + index;
                if (at >= field.offset && at < field.offset + field.width)
                    value[at - field.offset] = data[index];
            }
            std::uint64_t merged = 0;
            std::memcpy(&merged, value.data(), field.width);
            write_common_field(field.offset, merged);
        }
    } else if (offset >= notify && offset < notify + std::uint64_t { notify_multiplier } * m_state.queue_count()) {
        // Only without an ioeventfd on this address does the notification cost this exit.
        m_state.notify(static_cast<std::uint16_t>((offset - notify) / notify_multiplier));
    } else if (offset >= device && offset < device + device_size) {
        m_state.write_config(offset - device, data);
    } else if (offset >= msix_table && offset < msix_table + m_msix.table_size()) {
        m_msix.write_table(offset - msix_table, data);
    }
}

std::uint64_t PciTransport::read_common_field(std::uint64_t field)
{
    bool queue_exists = m_queue_select < m_state.queue_count();
    QueueConfig queue = queue_exists ? m_state.queue_config(m_queue_select) : QueueConfig {};
    switch (field) {
    case device_feature_select:
        return m_device_feature_select;
    case device_feature:
        return m_state.device_features_word(m_device_feature_select);
    case driver_feature_select:
        return m_driver_feature_select;
    case driver_feature:
        return m_state.driver_features_word(m_driver_feature_select);
    case config_msix_vector:
        return m_config_vector;
    case num_queues:
        return m_state.queue_count();
    case device_status:
        return m_state.status();
    case config_generation:
        return m_state.config_generation() & 0xff;
    case queue_select:
        return m_queue_select;
    case queue_size:
        return queue_exists ? queue.size : 0; // 0: the queue is unavailable (§4.1.4.3)
    case queue_msix_vector:
        return queue_exists ? m_queue_vectors[m_queue_select] : no_vector;
    case queue_enable:
        return queue.ready ? 1 : 0;
    case queue_notify_off:
        return m_queue_select; // each queue notifies at its own address
    case queue_desc:
        return queue.descriptor_table;
    case queue_driver:
        return queue.available_ring;
    case queue_device:
        return queue.used_ring;
    default:
        return 0;
    }
}

void PciTransport::write_common_field(std::uint64_t field, std::uint64_t value)
{
    bool queue_exists = m_queue_select < m_state.queue_count();
    auto update_queue = [&](auto change) {
        if (!queue_exists)
            return;
        QueueConfig queue = m_state.queue_config(m_queue_select);
        change(queue);
        m_state.write_queue_config(m_queue_select, queue);
    };
    // §4.1.5.1.2: a vector the table does not have reads back as NO_VECTOR (mapping failed).
    auto valid_vector = [&](std::uint64_t vector) {
        return vector < m_msix.vector_count() ? static_cast<std::uint16_t>(vector) : no_vector;
    };
    switch (field) {
    case device_feature_select:
        m_device_feature_select = static_cast<std::uint32_t>(value);
        break;
    case driver_feature_select:
        m_driver_feature_select = static_cast<std::uint32_t>(value);
        break;
    case driver_feature:
        m_state.write_driver_features_word(m_driver_feature_select, static_cast<std::uint32_t>(value));
        break;
    case config_msix_vector:
        m_config_vector = valid_vector(value);
        break;
    case device_status:
        m_state.write_status(static_cast<std::uint8_t>(value));
        if (value == 0) {
            // A reset returns every transport register to its initial value too (§4.1.4.3.1).
            std::lock_guard guard(m_isr_lock);
            m_isr = 0;
            m_intx.set_level(false);
            m_config_vector = no_vector;
            std::fill(m_queue_vectors.begin(), m_queue_vectors.end(), no_vector);
            m_device_feature_select = m_driver_feature_select = 0;
            m_queue_select = 0;
        }
        break;
    case queue_select:
        m_queue_select = static_cast<std::uint16_t>(value);
        break;
    case queue_size:
        update_queue([&](QueueConfig& queue) { queue.size = static_cast<std::uint16_t>(value); });
        break;
    case queue_msix_vector:
        if (queue_exists)
            m_queue_vectors[m_queue_select] = valid_vector(value);
        break;
    case queue_enable:
        // §4.1.4.3.2: the driver MUST NOT write 0; only a reset disables a queue.
        if (value == 1)
            update_queue([&](QueueConfig& queue) { queue.ready = true; });
        break;
    case queue_desc:
        update_queue([&](QueueConfig& queue) { queue.descriptor_table = value; });
        break;
    case queue_driver:
        update_queue([&](QueueConfig& queue) { queue.available_ring = value; });
        break;
    case queue_device:
        update_queue([&](QueueConfig& queue) { queue.used_ring = value; });
        break;
    default:
        break; // read-only fields
    }
}

void PciTransport::raise_intx(std::uint8_t isr_bits)
{
    std::lock_guard guard(m_isr_lock);
    if (m_isr == 0)
        ++m_intx_raised;
    m_isr |= isr_bits;
    std::uint16_t command = static_cast<std::uint16_t>(m_config.byte(pci::header::command) | m_config.byte(pci::header::command + 1) << 8);
    if (!(command & pci::header::command_interrupt_disable))
        m_intx.set_level(true);
}

void PciTransport::used_buffer(std::uint16_t queue_index)
{
    if (m_msix.enabled()) {
        // With MSI-X the vector is the notification; NO_VECTOR means the driver wants none.
        if (queue_index < m_queue_vectors.size() && m_queue_vectors[queue_index] != no_vector)
            m_msix.trigger(m_queue_vectors[queue_index]);
        return;
    }
    raise_intx(1);
}

void PciTransport::config_changed()
{
    if (m_msix.enabled()) {
        {
            // §4.1.4.5.1: the configuration bit is set in ISR before the notification, also with MSI-X.
            std::lock_guard guard(m_isr_lock);
            m_isr |= 2;
        }
        if (m_config_vector != no_vector)
            m_msix.trigger(m_config_vector);
        return;
    }
    raise_intx(2);
}

std::uint64_t PciTransport::intx_interrupts() const
{
    std::lock_guard guard(m_isr_lock);
    return m_intx_raised;
}

} // namespace stepvmm::virtio
