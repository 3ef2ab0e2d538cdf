#pragma once
/// @file
/// The modern virtio-pci transport (virtio 1.2 §4.1): a PCI function whose vendor-specific
/// capabilities point the driver at four structures in a memory BAR — common configuration,
/// notifications, ISR status and device configuration — plus MSI-X for interrupts, with the
/// legacy INTx line as the fallback when MSI-X is off.
///
/// BAR0 (64-bit, 32 KiB) layout, chosen here (the capabilities tell the driver):
///   0x0000 common configuration   0x1000 ISR status   0x2000 device configuration
///   0x3000 notifications (4 bytes per queue)   0x4000 MSI-X table   0x5000 MSI-X pending bits

#include <stepvmm/io/device.hpp>
#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/pci/host_bridge.hpp>
#include <stepvmm/pci/msix.hpp>
#include <stepvmm/virtio/device_state.hpp>

#include <cstdint>
#include <mutex>
#include <vector>

namespace stepvmm::virtio {

namespace pci_layout {
inline constexpr std::uint64_t bar_size = 0x8000;
inline constexpr std::uint64_t common = 0x0000;
inline constexpr std::uint64_t common_size = 0x40;
inline constexpr std::uint64_t isr = 0x1000;
inline constexpr std::uint64_t device = 0x2000;
inline constexpr std::uint64_t device_size = 0x1000;
inline constexpr std::uint64_t notify = 0x3000;
inline constexpr std::uint32_t notify_multiplier = 4;
inline constexpr std::uint64_t msix_table = 0x4000;
inline constexpr std::uint64_t msix_pending = 0x5000;
/// Capability cfg_type values (§4.1.4).
inline constexpr std::uint8_t cap_common = 1, cap_notify = 2, cap_isr = 3, cap_device = 4, cap_pci_cfg = 5;
/// Common configuration offsets (§4.1.4.3).
inline constexpr std::uint64_t device_feature_select = 0x00, device_feature = 0x04, driver_feature_select = 0x08,
                               driver_feature = 0x0c, config_msix_vector = 0x10, num_queues = 0x12, device_status = 0x14,
                               config_generation = 0x15, queue_select = 0x16, queue_size = 0x18, queue_msix_vector = 0x1a,
                               queue_enable = 0x1c, queue_notify_off = 0x1e, queue_desc = 0x20, queue_driver = 0x28,
                               queue_device = 0x30;
inline constexpr std::uint16_t no_vector = 0xffff; ///< VIRTIO_MSI_NO_VECTOR
} // namespace pci_layout

class PciTransport final : public pci::Function
    , public InterruptSink {
public:
    /// @p msi delivers MSI-X vectors (queue_count() + 1 of them: one per queue and one for
    /// configuration changes); @p intx is the INTx line used when MSI-X is off; @p intx_gsi is
    /// what the interrupt line register reports.
    PciTransport(DeviceState& state, pci::MsiDelivery& msi, io::InterruptLine& intx, std::uint8_t intx_gsi);

    // pci::Function
    void read_config(std::uint16_t offset, std::span<std::uint8_t> data) override;
    void write_config(std::uint16_t offset, std::span<const std::uint8_t> data) override;

    /// BAR0's contents, for the machine's MMIO bus at bar_address().
    [[nodiscard]] io::Device& bar() { return m_bar; }
    [[nodiscard]] std::uint64_t bar_address() const { return m_config.bar_address(0); }
    /// Programs BAR0 and turns on memory decoding and bus mastering, as firmware does before
    /// the guest's OS starts.
    void assign_bar_as_firmware(std::uint64_t address);
    /// Where BAR0 is decoded now: its address while memory space is enabled, else nothing.
    [[nodiscard]] std::optional<std::uint64_t> decoded_bar_address() const;
    /// Called when the guest moves BAR0 or switches memory decoding on or off.
    void on_bar_change(std::function<void()> callback) { m_config.on_memory_map_change = std::move(callback); }
    /// One ioeventfd match per queue: a 2-byte write of the queue index to its notify address.
    [[nodiscard]] std::vector<IoEventFdMatch> notification_matches() const;

    // InterruptSink
    void used_buffer(std::uint16_t queue_index) override;
    void config_changed() override;

    [[nodiscard]] std::uint64_t msi_messages_sent() const { return m_msix.messages_sent(); }
    [[nodiscard]] std::uint64_t intx_interrupts() const;

private:
    class Bar final : public io::Device {
    public:
        explicit Bar(PciTransport& transport)
            : m_transport(transport)
        {
        }
        [[nodiscard]] std::string_view name() const override { return m_transport.m_state.device().name(); }
        void read(std::uint64_t offset, std::span<std::uint8_t> data) override { m_transport.read_bar(offset, data); }
        void write(std::uint64_t offset, std::span<const std::uint8_t> data) override { m_transport.write_bar(offset, data); }

    private:
        PciTransport& m_transport;
    };

    void read_bar(std::uint64_t offset, std::span<std::uint8_t> data);
    void write_bar(std::uint64_t offset, std::span<const std::uint8_t> data);
    [[nodiscard]] std::uint64_t read_common_field(std::uint64_t field);
    void write_common_field(std::uint64_t field, std::uint64_t value);
    void raise_intx(std::uint8_t isr_bits);
    void add_virtio_capability(std::uint8_t type, std::uint64_t offset, std::uint64_t length, std::span<const std::uint8_t> extra = {});

    DeviceState& m_state;
    pci::ConfigSpace m_config;
    pci::MsixTable m_msix;
    io::InterruptLine& m_intx;
    Bar m_bar { *this };
    std::uint8_t m_msix_capability = 0;
    std::uint8_t m_pci_cfg_capability = 0;

    // Common configuration registers the transport holds itself (§4.1.4.3).
    std::uint32_t m_device_feature_select = 0;
    std::uint32_t m_driver_feature_select = 0;
    std::uint16_t m_queue_select = 0;
    std::uint16_t m_config_vector = pci_layout::no_vector;
    std::vector<std::uint16_t> m_queue_vectors;

    mutable std::mutex m_isr_lock; ///< ISR is set by the device thread and read-cleared by the vCPU
    std::uint8_t m_isr = 0;
    std::uint64_t m_intx_raised = 0;
};

} // namespace stepvmm::virtio
