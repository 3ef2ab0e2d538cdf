#pragma once
/// @file
/// The transport-independent half of a virtio device: device status, feature negotiation,
/// per-queue configuration and reset (virtio 1.2 §2.1, §2.2, §2.4, §3.1). Both transports
/// (virtio-mmio §4.2, virtio-pci §4.1) translate their registers into calls on this class,
/// so the rules are written once.
///
/// Threads: register accesses arrive on the vCPU thread, queue notifications on a device
/// thread (ioeventfd). Every public member takes the one lock, so a reset never races a
/// request in flight.

#include <stepvmm/os/system_error.hpp>
#include <stepvmm/virtio/device.hpp>
#include <stepvmm/virtio/split_queue.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace stepvmm::virtio {

/// What the driver configured for one queue before enabling it (§4.1.4.3 / §4.2.2 fields).
struct QueueConfig {
    std::uint16_t size = 0; ///< 0 until the driver sets it; starts at queue_max_size
    std::uint64_t descriptor_table = 0;
    std::uint64_t available_ring = 0; ///< "driver area"
    std::uint64_t used_ring = 0;      ///< "device area"
    bool ready = false;
};

class DeviceState {
public:
    /// Neither @p device nor @p memory is owned; both must outlive this object.
    DeviceState(VirtioDevice& device, const GuestMemory& memory);

    /// Set by the transport before the guest runs; used_buffer and config_changed go there.
    void set_interrupt_sink(InterruptSink& sink);

    [[nodiscard]] VirtioDevice& device() const { return m_device; }

    // --- device status (§2.1) -------------------------------------------------------------
    [[nodiscard]] std::uint8_t status() const;
    /// Writing 0 resets the device (§2.4). FEATURES_OK is kept only if the negotiated
    /// features are acceptable (§3.1.1 step 6: the driver re-reads it to find out); setting
    /// DRIVER_OK activates the device with the configured queues. Clearing bits other than by
    /// reset is a driver error the spec forbids (§2.1.1); it is ignored and logged.
    void write_status(std::uint8_t value);

    // --- features (§2.2), 32 bits at a time as both transports expose them -------------------
    [[nodiscard]] std::uint32_t device_features_word(std::uint32_t select) const;
    /// Ignored once FEATURES_OK is set (§2.2.1: the driver must not change them after).
    void write_driver_features_word(std::uint32_t select, std::uint32_t value);
    [[nodiscard]] std::uint32_t driver_features_word(std::uint32_t select) const;
    [[nodiscard]] std::uint64_t negotiated_features() const;

    // --- queues ---------------------------------------------------------------------------
    [[nodiscard]] std::uint16_t queue_count() const;
    [[nodiscard]] std::uint16_t queue_max_size() const;
    [[nodiscard]] QueueConfig queue_config(std::uint16_t index) const;
    /// Changes to a queue's configuration are accepted only while it is not ready (§4.2.2.2,
    /// §4.1.4.3.2); @p config.ready = true enables it. An invalid size (0, not a power of two,
    /// above the maximum) is refused: the queue stays disabled.
    void write_queue_config(std::uint16_t index, const QueueConfig& config);

    // --- configuration space -----------------------------------------------------------------
    [[nodiscard]] std::uint32_t config_generation() const;
    void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const;
    void write_config(std::uint64_t offset, std::span<const std::uint8_t> data);

    // --- from the device side -------------------------------------------------------------------
    /// The device changed its configuration space by itself (a resized disk): bumps
    /// config_generation and sends a configuration change notification (§2.5.1).
    void device_config_changed();
    /// The driver notified queue @p index. Runs the device's process_queue() if DRIVER_OK is
    /// set; a DriverError from it sets NEEDS_RESET and raises a config change (§2.1.2).
    void notify(std::uint16_t index);
    /// Statistics for the chapter summary.
    [[nodiscard]] std::uint64_t notifications() const;
    /// Why the device last entered NEEDS_RESET (empty if it never did).
    [[nodiscard]] std::string needs_reset_reason() const;

private:
    void reset_locked();
    void activate_locked();
    void enter_needs_reset_locked(std::string reason);
    [[nodiscard]] bool features_acceptable_locked() const;
    [[nodiscard]] QueueFeatures queue_features_locked() const;

    mutable std::mutex m_lock;
    VirtioDevice& m_device;
    const GuestMemory& m_memory;
    InterruptSink* m_sink = nullptr;
    std::uint8_t m_status = 0;
    std::uint64_t m_driver_features = 0;
    std::uint32_t m_config_generation = 0;
    std::vector<QueueConfig> m_queue_configs;
    std::vector<SplitQueue> m_queues;
    std::uint64_t m_notifications = 0;
    std::string m_needs_reset_reason;
};

} // namespace stepvmm::virtio
