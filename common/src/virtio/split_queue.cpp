#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/virtio/split_queue.hpp>

#include <atomic>
#include <bit>
#include <cstring>
#include <fmt/format.h>
#include <stdexcept>

namespace stepvmm::virtio {

// virtio is little-endian (§2.7 "le16", "le32"); so is every host this project runs on, which
// lets ring fields be read as native integers.
static_assert(std::endian::native == std::endian::little);

namespace {

/// The highest queue size a split virtqueue may have (§2.7: "Queue Size ... maximum 32768").
constexpr std::uint32_t largest_queue_size = 32768;

/// The host bytes of a guest range, or DriverError: the driver pointed outside its RAM.
std::span<std::uint8_t> guest_bytes(const GuestMemory& memory, std::uint64_t address, std::uint64_t length, const char* what)
{
    auto bytes = memory.translate(address, length);
    if (!bytes)
        throw DriverError(fmt::format("{} at {:#x} (+{:#x}) is not guest RAM", what, address, length));
    return *bytes;
}

/// A 16-bit ring index shared with the driver, accessed atomically. The alignment enable()
/// checked makes the reinterpret_cast valid for std::atomic_ref.
std::atomic_ref<std::uint16_t> shared_index(const GuestMemory& memory, std::uint64_t address)
{
    return std::atomic_ref<std::uint16_t>(*reinterpret_cast<std::uint16_t*>(guest_bytes(memory, address, 2, "ring index").data()));
}

struct RawDescriptor {
    std::uint64_t address;
    std::uint32_t length;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(RawDescriptor) == ring::descriptor_size);

} // namespace

BufferStream::BufferStream(const GuestMemory& memory, std::vector<Buffer> buffers)
    : m_memory(&memory)
    , m_buffers(std::move(buffers))
{
    for (const Buffer& buffer : m_buffers)
        m_size += buffer.length;
}

std::vector<std::span<std::uint8_t>> BufferStream::host_spans(std::uint64_t offset, std::uint64_t length) const
{
    if (offset > m_size || length > m_size - offset)
        throw std::out_of_range(fmt::format("stream bytes {:#x}+{:#x} past its end {:#x}", offset, length, m_size));
    std::vector<std::span<std::uint8_t>> spans;
    for (const Buffer& buffer : m_buffers) {
        if (length == 0)
            break;
        if (offset >= buffer.length) {
            offset -= buffer.length;
            continue;
        }
        std::uint64_t piece = std::min<std::uint64_t>(buffer.length - offset, length);
        // pop() checked every buffer against guest RAM, so this translation cannot fail.
        spans.push_back(m_memory->at(buffer.address + offset, piece));
        length -= piece;
        offset = 0;
    }
    return spans;
}

void BufferStream::read(std::uint64_t offset, std::span<std::uint8_t> out) const
{
    for (std::span<std::uint8_t> piece : host_spans(offset, out.size())) {
        std::memcpy(out.data(), piece.data(), piece.size());
        out = out.subspan(piece.size());
    }
}

void BufferStream::write(std::uint64_t offset, std::span<const std::uint8_t> bytes) const
{
    for (std::span<std::uint8_t> piece : host_spans(offset, bytes.size())) {
        std::memcpy(piece.data(), bytes.data(), piece.size());
        bytes = bytes.subspan(piece.size());
    }
}

void SplitQueue::enable(const GuestMemory& memory, const QueueAddresses& addresses, QueueFeatures features)
{
    if (addresses.size == 0 || addresses.size > largest_queue_size || !std::has_single_bit(addresses.size))
        throw DriverError(fmt::format("queue size {} is not a power of two up to {}", addresses.size, largest_queue_size));
    // §2.7 "Virtqueue alignment": descriptor table 16, available ring 2, used ring 4 bytes.
    if (addresses.descriptor_table % 16 || addresses.available_ring % 2 || addresses.used_ring % 4)
        throw DriverError(fmt::format("queue areas {:#x}/{:#x}/{:#x} are not aligned as §2.7 requires",
            addresses.descriptor_table, addresses.available_ring, addresses.used_ring));
    guest_bytes(memory, addresses.descriptor_table, ring::descriptor_table_bytes(addresses.size), "descriptor table");
    guest_bytes(memory, addresses.available_ring, ring::available_ring_bytes(addresses.size), "available ring");
    guest_bytes(memory, addresses.used_ring, ring::used_ring_bytes(addresses.size), "used ring");
    m_addresses = addresses;
    m_features = features;
    m_next_available = 0;
    m_used_index = 0;
    m_used_at_last_check = 0;
    m_enabled = true;
}

void SplitQueue::disable()
{
    m_enabled = false;
    m_addresses = {};
    m_next_available = m_used_index = m_used_at_last_check = 0;
}

std::optional<DescriptorChain> SplitQueue::pop(const GuestMemory& memory)
{
    if (!m_enabled)
        return std::nullopt;
    const std::uint16_t size = m_addresses.size;
    // Acquire: the ring entries and descriptors the driver wrote before publishing this index
    // must be read after it, never before (§2.7.13.2 is the driver's half of this pairing).
    std::uint16_t available = shared_index(memory, m_addresses.available_ring + 2).load(std::memory_order_acquire);
    if (available == m_next_available && m_features.event_index) {
        // Ask for a kick when the driver adds the next chain (§2.7.10 avail_event), then look
        // once more: a chain published before the driver could see avail_event sends no kick.
        shared_index(memory, m_addresses.used_ring + 4 + 8ULL * size).store(m_next_available, std::memory_order_relaxed);
        // Full fence: our avail_event store must be visible before we re-read the driver's index.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        available = shared_index(memory, m_addresses.available_ring + 2).load(std::memory_order_acquire);
    }
    std::uint16_t pending = static_cast<std::uint16_t>(available - m_next_available);
    if (pending == 0)
        return std::nullopt;
    if (pending > size)
        throw DriverError(fmt::format("available index jumped from {} to {}: more than the queue size {} ahead",
            m_next_available, available, size));

    std::uint64_t slot_address = m_addresses.available_ring + 4 + 2ULL * (m_next_available % size);
    std::uint16_t head = memory.read<std::uint16_t>(slot_address);
    if (head >= size)
        throw DriverError(fmt::format("available ring slot holds descriptor {} of a queue of {}", head, size));
    DescriptorChain chain;
    chain.head = head;
    walk_table(memory, chain, m_addresses.descriptor_table, size, head, false);
    ++m_next_available;
    return chain;
}

void SplitQueue::walk_table(const GuestMemory& memory, DescriptorChain& chain, std::uint64_t table, std::uint32_t entries,
    std::uint16_t first, bool inside_indirect_table) const
{
    std::uint32_t index = first;
    for (;;) {
        // A chain never has more descriptors than the queue has entries (§2.7.5.3.1, §2.7.13.1);
        // counting them is also what stops a driver's loop.
        if (++chain.descriptor_count > m_addresses.size)
            throw DriverError(fmt::format("descriptor chain from {} is longer than the queue size {} (a loop?)", chain.head, m_addresses.size));
        RawDescriptor descriptor;
        std::memcpy(&descriptor, guest_bytes(memory, table + ring::descriptor_size * index, ring::descriptor_size, "descriptor").data(),
            sizeof descriptor);

        if (descriptor.flags & ring::descriptor_indirect) {
            if (inside_indirect_table)
                throw DriverError("an indirect table points to another indirect table (§2.7.5.3.1 forbids it)");
            if (!m_features.indirect_descriptors)
                throw DriverError("indirect descriptor used but VIRTIO_F_INDIRECT_DESC was not negotiated");
            if (descriptor.flags & ring::descriptor_next)
                throw DriverError("indirect descriptor with NEXT set (§2.7.5.3.1 forbids it)");
            if (descriptor.length == 0 || descriptor.length % ring::descriptor_size)
                throw DriverError(fmt::format("indirect table length {} is not a non-zero multiple of 16", descriptor.length));
            std::uint32_t table_entries = descriptor.length / ring::descriptor_size;
            if (table_entries > m_addresses.size)
                throw DriverError(fmt::format("indirect table of {} entries is longer than the queue size {}", table_entries, m_addresses.size));
            guest_bytes(memory, descriptor.address, descriptor.length, "indirect table");
            chain.used_indirect_table = true;
            walk_table(memory, chain, descriptor.address, table_entries, 0, true);
            return;
        }

        guest_bytes(memory, descriptor.address, descriptor.length, "buffer");
        Buffer buffer { descriptor.address, descriptor.length };
        if (descriptor.flags & ring::descriptor_write) {
            chain.writable.push_back(buffer);
        } else {
            // §2.7.4.2: device-readable descriptors come first, then device-writable ones.
            if (!chain.writable.empty())
                throw DriverError(fmt::format("descriptor {} is device-readable but follows a device-writable one", index));
            chain.readable.push_back(buffer);
        }
        if (!(descriptor.flags & ring::descriptor_next))
            return;
        if (descriptor.next >= entries)
            throw DriverError(fmt::format("descriptor {} names next {} outside its table of {}", index, descriptor.next, entries));
        index = descriptor.next;
    }
}

void SplitQueue::add_used(const GuestMemory& memory, std::uint16_t head, std::uint32_t bytes_written)
{
    std::uint64_t element = m_addresses.used_ring + 4 + 8ULL * (m_used_index % m_addresses.size);
    memory.write<std::uint32_t>(element, head);
    memory.write<std::uint32_t>(element + 4, bytes_written);
    ++m_used_index;
    // Release: the element (and the data written into the buffers) must be visible before the
    // driver can see the new index (§2.7.8.2's ordering, device side).
    shared_index(memory, m_addresses.used_ring + 2).store(m_used_index, std::memory_order_release);
}

bool SplitQueue::should_notify_driver(const GuestMemory& memory)
{
    if (!m_enabled)
        return false;
    // Full fence: the used index we just published must be visible before we read the
    // driver's suppression state, or a driver re-enabling interrupts could miss one.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::uint16_t old_used = m_used_at_last_check;
    std::uint16_t new_used = m_used_index;
    m_used_at_last_check = new_used;
    if (new_used == old_used)
        return false;
    if (m_features.event_index) {
        std::uint16_t used_event = shared_index(memory, m_addresses.available_ring + 4 + 2ULL * m_addresses.size).load(std::memory_order_relaxed);
        // §2.7.10: notify if used_event lies in the window of entries published since the
        // last notification decision, i.e. the driver asked to hear about one of them.
        return static_cast<std::uint16_t>(new_used - used_event - 1) < static_cast<std::uint16_t>(new_used - old_used);
    }
    std::uint16_t flags = shared_index(memory, m_addresses.available_ring).load(std::memory_order_relaxed);
    return !(flags & ring::available_no_interrupt);
}

} // namespace stepvmm::virtio
