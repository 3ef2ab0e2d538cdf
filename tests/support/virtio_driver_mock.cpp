#include "virtio_driver_mock.hpp"

#include <stdexcept>

namespace stepvmm::test {

using namespace virtio;

VirtioDriverMock::VirtioDriverMock(std::uint16_t queue_size)
    : m_memory({ RamRange { "mock RAM", 0, mock_memory_size } }, Backing::Anonymous4K)
    , m_queue_size(queue_size)
{
    if (mock_descriptor_table + ring::descriptor_table_bytes(queue_size) > mock_available_ring
        || mock_available_ring + ring::available_ring_bytes(queue_size) > mock_used_ring
        || mock_used_ring + ring::used_ring_bytes(queue_size) > mock_heap)
        throw std::invalid_argument("queue too large for the mock's layout");
}

QueueAddresses VirtioDriverMock::addresses() const
{
    return QueueAddresses { m_queue_size, mock_descriptor_table, mock_available_ring, mock_used_ring };
}

std::uint64_t VirtioDriverMock::allocate(std::uint64_t length)
{
    std::uint64_t address = m_heap_next;
    m_heap_next = (m_heap_next + length + 15) & ~std::uint64_t { 15 };
    if (m_heap_next > mock_memory_size)
        throw std::length_error("mock guest memory exhausted");
    return address;
}

std::uint64_t VirtioDriverMock::place(std::span<const std::uint8_t> bytes)
{
    std::uint64_t address = allocate(bytes.size());
    m_memory.write_bytes(address, bytes);
    return address;
}

MockBuffer VirtioDriverMock::buffer(std::uint32_t length, bool device_writable)
{
    return MockBuffer { allocate(length), length, device_writable };
}

MockBuffer VirtioDriverMock::readable(std::span<const std::uint8_t> bytes)
{
    return MockBuffer { place(bytes), static_cast<std::uint32_t>(bytes.size()), false };
}

void VirtioDriverMock::write_descriptor(std::uint16_t index, std::uint64_t address, std::uint32_t length, std::uint16_t flags, std::uint16_t next)
{
    std::uint64_t descriptor = mock_descriptor_table + ring::descriptor_size * index;
    m_memory.write(descriptor, address);
    m_memory.write(descriptor + 8, length);
    m_memory.write(descriptor + 12, flags);
    m_memory.write(descriptor + 14, next);
}

std::uint16_t VirtioDriverMock::add_chain(const std::vector<MockBuffer>& buffers)
{
    if (buffers.empty())
        throw std::invalid_argument("a chain has at least one buffer");
    auto head = m_next_descriptor;
    for (std::size_t index = 0; index < buffers.size(); ++index) {
        auto current = m_next_descriptor;
        m_next_descriptor = static_cast<std::uint16_t>((m_next_descriptor + 1) % m_queue_size);
        bool last = index + 1 == buffers.size();
        std::uint16_t flags = static_cast<std::uint16_t>((buffers[index].device_writable ? ring::descriptor_write : 0) | (last ? 0 : ring::descriptor_next));
        write_descriptor(current, buffers[index].address, buffers[index].length, flags, last ? 0 : m_next_descriptor);
    }
    return head;
}

std::uint16_t VirtioDriverMock::add_indirect_chain(const std::vector<MockBuffer>& buffers)
{
    std::uint64_t table = allocate(ring::descriptor_size * buffers.size());
    for (std::size_t index = 0; index < buffers.size(); ++index) {
        std::uint64_t descriptor = table + ring::descriptor_size * index;
        bool last = index + 1 == buffers.size();
        m_memory.write(descriptor, buffers[index].address);
        m_memory.write(descriptor + 8, buffers[index].length);
        m_memory.write(descriptor + 12,
            static_cast<std::uint16_t>((buffers[index].device_writable ? ring::descriptor_write : 0) | (last ? 0 : ring::descriptor_next)));
        m_memory.write(descriptor + 14, static_cast<std::uint16_t>(last ? 0 : index + 1));
    }
    auto head = m_next_descriptor;
    m_next_descriptor = static_cast<std::uint16_t>((m_next_descriptor + 1) % m_queue_size);
    write_descriptor(head, table, static_cast<std::uint32_t>(ring::descriptor_size * buffers.size()), ring::descriptor_indirect, 0);
    return head;
}

void VirtioDriverMock::publish(std::uint16_t head)
{
    m_memory.write(mock_available_ring + 4 + 2ULL * (m_available_index % m_queue_size), head);
    set_available_index(static_cast<std::uint16_t>(m_available_index + 1));
}

std::uint16_t VirtioDriverMock::submit(const std::vector<MockBuffer>& buffers)
{
    auto head = add_chain(buffers);
    publish(head);
    return head;
}

void VirtioDriverMock::set_available_index(std::uint16_t index)
{
    m_available_index = index;
    m_memory.write(mock_available_ring + 2, index);
}

std::uint16_t VirtioDriverMock::available_index() const { return m_available_index; }

void VirtioDriverMock::set_available_flags(std::uint16_t flags) { m_memory.write(mock_available_ring, flags); }

void VirtioDriverMock::set_used_event(std::uint16_t index)
{
    m_memory.write(mock_available_ring + 4 + 2ULL * m_queue_size, index);
}

std::uint16_t VirtioDriverMock::used_index() const { return m_memory.read<std::uint16_t>(mock_used_ring + 2); }

VirtioDriverMock::UsedElement VirtioDriverMock::used(std::uint16_t position) const
{
    std::uint64_t element = mock_used_ring + 4 + 8ULL * (position % m_queue_size);
    return UsedElement { m_memory.read<std::uint32_t>(element), m_memory.read<std::uint32_t>(element + 4) };
}

std::uint16_t VirtioDriverMock::avail_event() const { return m_memory.read<std::uint16_t>(mock_used_ring + 4 + 8ULL * m_queue_size); }

std::vector<std::uint8_t> VirtioDriverMock::read(std::uint64_t address, std::uint64_t length) const
{
    auto bytes = m_memory.at(address, length);
    return { bytes.begin(), bytes.end() };
}

bool VirtioDriverMock::initialize(DeviceState& state, std::uint64_t driver_features)
{
    state.write_status(0);
    state.write_status(status::acknowledge);
    state.write_status(status::acknowledge | status::driver);
    state.write_driver_features_word(0, static_cast<std::uint32_t>(driver_features));
    state.write_driver_features_word(1, static_cast<std::uint32_t>(driver_features >> 32));
    state.write_status(status::acknowledge | status::driver | status::features_ok);
    if (!(state.status() & status::features_ok))
        return false;
    state.write_queue_config(0, QueueConfig { m_queue_size, mock_descriptor_table, mock_available_ring, mock_used_ring, true });
    state.write_status(status::acknowledge | status::driver | status::features_ok | status::driver_ok);
    return true;
}

} // namespace stepvmm::test
