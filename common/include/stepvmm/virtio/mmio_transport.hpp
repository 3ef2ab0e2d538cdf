#pragma once
/// @file
/// The virtio-mmio transport, version 2 (virtio 1.2 §4.2): a page of 32-bit registers at a
/// fixed guest-physical address, found by the driver from the kernel command line or a device
/// tree, and one level-triggered interrupt line.

#include <stepvmm/io/device.hpp>
#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/virtio/device_state.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace stepvmm::virtio {

/// Register offsets (§4.2.2, table "MMIO Device Register Layout").
namespace mmio {
inline constexpr std::uint64_t magic_value = 0x000;
inline constexpr std::uint64_t version = 0x004;
inline constexpr std::uint64_t device_id = 0x008;
inline constexpr std::uint64_t vendor_id = 0x00c;
inline constexpr std::uint64_t device_features = 0x010;
inline constexpr std::uint64_t device_features_select = 0x014;
inline constexpr std::uint64_t driver_features = 0x020;
inline constexpr std::uint64_t driver_features_select = 0x024;
inline constexpr std::uint64_t queue_select = 0x030;
inline constexpr std::uint64_t queue_size_max = 0x034;
inline constexpr std::uint64_t queue_size = 0x038;
inline constexpr std::uint64_t queue_ready = 0x044;
inline constexpr std::uint64_t queue_notify = 0x050;
inline constexpr std::uint64_t interrupt_status = 0x060;
inline constexpr std::uint64_t interrupt_ack = 0x064;
inline constexpr std::uint64_t status = 0x070;
inline constexpr std::uint64_t queue_descriptor_low = 0x080;
inline constexpr std::uint64_t queue_descriptor_high = 0x084;
inline constexpr std::uint64_t queue_driver_low = 0x090;
inline constexpr std::uint64_t queue_driver_high = 0x094;
inline constexpr std::uint64_t queue_device_low = 0x0a0;
inline constexpr std::uint64_t queue_device_high = 0x0a4;
inline constexpr std::uint64_t shared_memory_length_low = 0x0b0;
inline constexpr std::uint64_t shared_memory_length_high = 0x0b4;
inline constexpr std::uint64_t config_generation = 0x0fc;
inline constexpr std::uint64_t config = 0x100;
inline constexpr std::uint32_t magic = 0x74726976; ///< "virt"
inline constexpr std::uint32_t vendor = 0x4d4d5653; ///< "SVMM": any value is allowed
/// InterruptStatus bits (§4.2.2).
inline constexpr std::uint32_t interrupt_used_buffer = 1;
inline constexpr std::uint32_t interrupt_config_change = 2;
/// The register window a transport occupies.
inline constexpr std::uint64_t window_size = 0x200;
} // namespace mmio

class MmioTransport final : public io::Device
    , public InterruptSink {
public:
    /// @p interrupt is level-triggered: high while InterruptStatus is not zero. Registers
    /// itself as @p state's interrupt sink.
    MmioTransport(DeviceState& state, io::InterruptLine& interrupt);

    [[nodiscard]] std::string_view name() const override { return m_state.device().name(); }
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    void used_buffer(std::uint16_t queue_index) override;
    void config_changed() override;

    /// One ioeventfd match per queue for a transport at @p base: a 4-byte write of the queue
    /// index to QueueNotify (datamatch), so KVM can route each queue to its own eventfd.
    [[nodiscard]] std::vector<IoEventFdMatch> notification_matches(std::uint64_t base) const;

    /// Interrupts raised so far (rising edges of the line).
    [[nodiscard]] std::uint64_t interrupts_raised() const;

private:
    [[nodiscard]] std::uint32_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint32_t value);
    void update_queue(const std::function<void(QueueConfig&)>& change);
    void raise(std::uint32_t bits);

    DeviceState& m_state;
    io::InterruptLine& m_interrupt;
    std::uint32_t m_device_features_select = 0;
    std::uint32_t m_driver_features_select = 0;
    std::uint16_t m_queue_select = 0;
    mutable std::mutex m_interrupt_lock; ///< InterruptStatus is set by the device thread, acknowledged by the vCPU
    std::uint32_t m_interrupt_status = 0;
    std::uint64_t m_interrupts_raised = 0;
};

} // namespace stepvmm::virtio
