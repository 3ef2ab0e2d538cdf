#pragma once
// The driver's side of a virtio device, for tests without a guest: it lays out one split
// virtqueue in a small fake guest memory, builds descriptor chains (direct or through an
// indirect table), publishes them, reads the used ring back, and walks a DeviceState through
// the driver initialisation of virtio 1.2 §3.1.1. It can also break every rule on purpose.

#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/virtio/device_state.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace stepvmm::test {

/// Where the mock puts things in its guest memory (all inside its 2 MiB of RAM).
inline constexpr std::uint64_t mock_descriptor_table = 0x1000;
inline constexpr std::uint64_t mock_available_ring = 0x3000;
inline constexpr std::uint64_t mock_used_ring = 0x4000;
inline constexpr std::uint64_t mock_heap = 0x10000;
inline constexpr std::uint64_t mock_memory_size = 2ULL << 20;

/// One buffer of a chain as the driver sees it.
struct MockBuffer {
    std::uint64_t address;
    std::uint32_t length;
    bool device_writable;
};

/// An interrupt sink that counts what it is told.
class CountingSink final : public virtio::InterruptSink {
public:
    void used_buffer(std::uint16_t) override { ++used_buffers; }
    void config_changed() override { ++config_changes; }
    unsigned used_buffers = 0;
    unsigned config_changes = 0;
};

class VirtioDriverMock {
public:
    explicit VirtioDriverMock(std::uint16_t queue_size = 16);

    [[nodiscard]] const GuestMemory& memory() const { return m_memory; }
    [[nodiscard]] std::uint16_t queue_size() const { return m_queue_size; }
    [[nodiscard]] virtio::QueueAddresses addresses() const;

    /// Reserves @p length bytes of guest memory (16-byte aligned) and returns their address.
    std::uint64_t allocate(std::uint64_t length);
    /// allocate() + copy @p bytes there.
    std::uint64_t place(std::span<const std::uint8_t> bytes);
    /// A buffer of @p length bytes, zero-filled, readable or writable by the device.
    MockBuffer buffer(std::uint32_t length, bool device_writable);
    MockBuffer readable(std::span<const std::uint8_t> bytes);

    /// Writes the chain into free descriptors and returns its head (not yet published).
    std::uint16_t add_chain(const std::vector<MockBuffer>& buffers);
    /// One descriptor pointing at an indirect table that holds @p buffers; returns its head.
    std::uint16_t add_indirect_chain(const std::vector<MockBuffer>& buffers);
    /// Puts @p head in the available ring and advances its index (the store the device acquires).
    void publish(std::uint16_t head);
    /// add_chain() + publish().
    std::uint16_t submit(const std::vector<MockBuffer>& buffers);

    // --- raw access, for breaking the rules ---------------------------------------------------
    void write_descriptor(std::uint16_t index, std::uint64_t address, std::uint32_t length, std::uint16_t flags, std::uint16_t next);
    void set_available_index(std::uint16_t index);
    [[nodiscard]] std::uint16_t available_index() const;
    void set_available_flags(std::uint16_t flags);
    void set_used_event(std::uint16_t index);

    // --- the device's answers ---------------------------------------------------------------------
    [[nodiscard]] std::uint16_t used_index() const;
    struct UsedElement {
        std::uint32_t id;
        std::uint32_t length;
    };
    /// The used ring entry written @p position-th (0 = first ever).
    [[nodiscard]] UsedElement used(std::uint16_t position) const;
    [[nodiscard]] std::uint16_t avail_event() const;
    [[nodiscard]] std::vector<std::uint8_t> read(std::uint64_t address, std::uint64_t length) const;

    /// §3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (returns false if the device
    /// refused them), queue 0 configured and enabled, DRIVER_OK.
    bool initialize(virtio::DeviceState& state, std::uint64_t driver_features);

private:
    GuestMemory m_memory;
    std::uint16_t m_queue_size;
    std::uint16_t m_next_descriptor = 0;
    std::uint16_t m_available_index = 0;
    std::uint64_t m_heap_next = mock_heap;
};

} // namespace stepvmm::test
