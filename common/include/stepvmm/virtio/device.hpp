#pragma once
/// @file
/// What a virtio device model (virtio-blk, virtio-net) implements. It knows neither its
/// transport (MMIO or PCI: house rule 4) nor KVM: the transport-independent DeviceState
/// negotiates features and owns the queues, and calls the device at the moments the spec
/// names (virtio 1.2 §3.1.1 driver initialisation, §2.4 reset).

#include <stepvmm/virtio/constants.hpp>

#include <cstdint>
#include <span>
#include <string_view>

namespace stepvmm {
class GuestMemory;
}

namespace stepvmm::virtio {

class SplitQueue;

/// How a device tells the driver about its work; the transport decides what that means
/// (an ISR bit and an interrupt line for MMIO, an MSI-X vector or INTx for PCI).
class InterruptSink {
public:
    virtual ~InterruptSink() = default;
    /// A used buffer notification for queue @p queue_index (virtio 1.2 §2.3).
    virtual void used_buffer(std::uint16_t queue_index) = 0;
    /// A configuration change notification (§2.5.1); also how NEEDS_RESET is announced.
    virtual void config_changed() = 0;
};

/// Everything a device may use once the driver has set DRIVER_OK.
struct ActiveDevice {
    const GuestMemory& memory;
    std::span<SplitQueue> queues;    ///< all queues, configured by the driver (some may be disabled)
    std::uint64_t negotiated_features;
    InterruptSink& interrupts;
};

/// A virtio device model.
class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;

    [[nodiscard]] virtual std::string_view name() const = 0;
    [[nodiscard]] virtual DeviceType type() const = 0;
    /// Every feature the device offers, device-specific and reserved ones (VERSION_1,
    /// EVENT_IDX, INDIRECT_DESC) alike.
    [[nodiscard]] virtual std::uint64_t offered_features() const = 0;
    [[nodiscard]] virtual std::uint16_t queue_count() const = 0;
    /// The largest queue size the device supports (a power of 2, §2.7).
    [[nodiscard]] virtual std::uint16_t queue_max_size() const = 0;

    /// Device configuration space (§4.x "Device configuration layout" of each device).
    /// Offsets are into that space; bytes past its end read as zero and writes to them are
    /// ignored.
    virtual void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const = 0;
    virtual void write_config(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;

    /// The driver set DRIVER_OK. @p device stays valid until reset().
    virtual void activate(const ActiveDevice& device) = 0;
    /// The driver notified queue @p queue_index (§2.7.13), or the VMM polls it. Called with
    /// the DeviceState lock held, so never concurrently with activate() or reset(). A
    /// misbehaving driver makes this throw virtio::DriverError.
    virtual void process_queue(std::uint16_t queue_index) = 0;
    /// Back to the state before activate() (§2.4): drop every reference into guest memory.
    virtual void reset() = 0;
};

} // namespace stepvmm::virtio
