#pragma once
/// @file
/// The device side of a split virtqueue (virtio 1.2 §2.7): a descriptor table, an available
/// ring the driver fills and a used ring the device fills, all in guest RAM.
///
/// The queue knows neither KVM nor the device that uses it (rust-vmm's virtio-queue has the
/// same shape) and takes the guest's memory per call. Guest memory is hostile (house rule 3):
/// every address goes through GuestMemory's checked translation, chains are bounded, and any
/// breach of the protocol throws virtio::DriverError, which DeviceState turns into NEEDS_RESET.

#include <stepvmm/os/system_error.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace stepvmm {
class GuestMemory;
}

namespace stepvmm::virtio {

/// The driver broke the virtio protocol (a bad GPA, a descriptor loop, an index jump). The
/// device answers by setting NEEDS_RESET (§2.1.2), never by crashing.
class DriverError : public GuestError {
public:
    using GuestError::GuestError;
};

/// Layout constants of the split virtqueue (§2.7.5, §2.7.6, §2.7.8).
namespace ring {
inline constexpr std::uint16_t descriptor_next = 1;     ///< VIRTQ_DESC_F_NEXT
inline constexpr std::uint16_t descriptor_write = 2;    ///< VIRTQ_DESC_F_WRITE: device-writable
inline constexpr std::uint16_t descriptor_indirect = 4; ///< VIRTQ_DESC_F_INDIRECT
inline constexpr std::uint16_t available_no_interrupt = 1; ///< VIRTQ_AVAIL_F_NO_INTERRUPT
inline constexpr std::uint16_t used_no_notify = 1;         ///< VIRTQ_USED_F_NO_NOTIFY
inline constexpr std::uint64_t descriptor_size = 16;
/// Bytes of each area for a queue of @p size entries, including the event index field.
constexpr std::uint64_t descriptor_table_bytes(std::uint16_t size) { return descriptor_size * size; }
constexpr std::uint64_t available_ring_bytes(std::uint16_t size) { return 6 + 2ULL * size; }
constexpr std::uint64_t used_ring_bytes(std::uint16_t size) { return 6 + 8ULL * size; }
} // namespace ring

/// Where the driver put one queue (the transports' queue_desc / queue_driver / queue_device).
struct QueueAddresses {
    std::uint16_t size = 0;
    std::uint64_t descriptor_table = 0;
    std::uint64_t available_ring = 0; ///< the "driver area"
    std::uint64_t used_ring = 0;      ///< the "device area"
};

/// Which optional ring features were negotiated.
struct QueueFeatures {
    bool event_index = false;          ///< VIRTIO_F_EVENT_IDX (§2.7.7, §2.7.10)
    bool indirect_descriptors = false; ///< VIRTIO_F_INDIRECT_DESC (§2.7.5.3)
};

/// One buffer of a chain: guest-physical, already checked to lie inside guest RAM.
struct Buffer {
    std::uint64_t address;
    std::uint32_t length;
};

/// The device-readable or the device-writable buffers of a chain, seen as one byte stream, so
/// a device never depends on how the driver split a request into descriptors (§2.6.4).
class BufferStream {
public:
    BufferStream(const GuestMemory& memory, std::vector<Buffer> buffers);

    [[nodiscard]] std::uint64_t size() const { return m_size; }
    [[nodiscard]] const std::vector<Buffer>& buffers() const { return m_buffers; }

    /// Copies stream bytes [offset, offset + out.size()) out of guest memory. Throws
    /// std::out_of_range past the end: that is a device bug, not a driver's.
    void read(std::uint64_t offset, std::span<std::uint8_t> out) const;
    /// Copies @p bytes into the stream at @p offset.
    void write(std::uint64_t offset, std::span<const std::uint8_t> bytes) const;
    /// The host memory behind stream bytes [offset, offset + length), one span per buffer
    /// piece, for zero-copy I/O (a disk read straight into the guest's buffers).
    [[nodiscard]] std::vector<std::span<std::uint8_t>> host_spans(std::uint64_t offset, std::uint64_t length) const;

private:
    const GuestMemory* m_memory;
    std::vector<Buffer> m_buffers;
    std::uint64_t m_size = 0;
};

/// One descriptor chain taken from the available ring, indirect tables already resolved.
/// Device-readable buffers come before device-writable ones (§2.7.4.2 is enforced by pop()).
struct DescriptorChain {
    std::uint16_t head = 0; ///< what add_used() hands back to the driver
    std::vector<Buffer> readable;
    std::vector<Buffer> writable;
    std::uint16_t descriptor_count = 0; ///< descriptors walked, indirect entries included
    bool used_indirect_table = false;

    [[nodiscard]] BufferStream readable_stream(const GuestMemory& memory) const { return { memory, readable }; }
    [[nodiscard]] BufferStream writable_stream(const GuestMemory& memory) const { return { memory, writable }; }
};

/// The device's side of one split virtqueue.
class SplitQueue {
public:
    /// A disabled queue; pop() on it returns nothing.
    SplitQueue() = default;

    /// Enables the queue at @p addresses. Checks what the spec requires of the driver:
    /// a power-of-two size up to 32768, the alignments of §2.7 (16, 2 and 4 bytes) and all
    /// three areas inside guest RAM. Throws DriverError otherwise.
    void enable(const GuestMemory& memory, const QueueAddresses& addresses, QueueFeatures features);
    /// Back to disabled; forgets all indices (§2.4 reset).
    void disable();
    [[nodiscard]] bool enabled() const { return m_enabled; }
    [[nodiscard]] std::uint16_t size() const { return m_addresses.size; }
    [[nodiscard]] const QueueAddresses& addresses() const { return m_addresses; }

    /// The next chain the driver made available, or std::nullopt when there is none.
    /// Throws DriverError for a chain that breaks the rules: a descriptor index out of range,
    /// a loop or a chain longer than the queue, a buffer outside guest RAM, a device-readable
    /// buffer after a device-writable one, a nested or malformed indirect table, or an
    /// available index more than the queue size ahead of the device.
    [[nodiscard]] std::optional<DescriptorChain> pop(const GuestMemory& memory);

    /// Returns chain @p head to the driver with @p bytes_written bytes written into its
    /// device-writable buffers (§2.7.8).
    void add_used(const GuestMemory& memory, std::uint16_t head, std::uint32_t bytes_written);

    /// Whether the driver wants a used buffer notification for what add_used() published
    /// since the last call (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX: §2.7.10).
    [[nodiscard]] bool should_notify_driver(const GuestMemory& memory);

    /// Chains taken so far (wraps at 2^16, as the ring's indices do).
    [[nodiscard]] std::uint16_t next_available_index() const { return m_next_available; }
    [[nodiscard]] std::uint16_t used_index() const { return m_used_index; }

private:
    void walk_table(const GuestMemory& memory, DescriptorChain& chain, std::uint64_t table, std::uint32_t entries,
        std::uint16_t first, bool inside_indirect_table) const;

    QueueAddresses m_addresses;
    QueueFeatures m_features;
    bool m_enabled = false;
    std::uint16_t m_next_available = 0;     ///< the device's last_avail_idx
    std::uint16_t m_used_index = 0;         ///< the used ring's idx as the device last wrote it
    std::uint16_t m_used_at_last_check = 0; ///< used idx when should_notify_driver() last ran
};

} // namespace stepvmm::virtio
