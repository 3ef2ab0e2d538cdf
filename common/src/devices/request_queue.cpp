#include <stepvmm/app/log.hpp>
#include <stepvmm/devices/request_queue.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <request_queue_abi.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstring>

namespace stepvmm::devices {

namespace {

static_assert(RequestQueue::max_size == REQUEST_QUEUE_MAX_SIZE);
// The layout the guest compiles from request_queue_abi.h, which the offsets below rely on.
static_assert(sizeof(request_queue_header) == 8);
static_assert(sizeof(request_queue_request) == 16);
static_assert(offsetof(request_queue_header, submitted) == 0);
static_assert(offsetof(request_queue_header, completed) == 4);
static_assert(offsetof(request_queue_request, input) == 0);
static_assert(offsetof(request_queue_request, output) == 8);

constexpr std::size_t register_width = 4;
constexpr std::uint32_t all_ones = 0xffff'ffff; // a floating bus, 32 bits of it

// The queue must start at a multiple of the request's natural alignment, so the guest's own
// structure is aligned and the device can access the 32-bit indices atomically.
constexpr std::uint64_t queue_alignment = alignof(request_queue_request);

constexpr std::uint64_t queue_bytes(std::uint32_t size)
{
    return sizeof(request_queue_header) + std::uint64_t { size } * sizeof(request_queue_request);
}

// One of the header's 32-bit indices, shared with a guest that reads or writes it while the
// device runs. An atomic access is the C++ way to say "another agent touches this"; on x86 a
// relaxed 32-bit atomic load or store is an ordinary MOV.
std::atomic_ref<std::uint32_t> header_index(std::span<std::uint8_t> queue, std::size_t field_offset)
{
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(queue.data() + field_offset));
}

std::uint64_t load_u64(const std::uint8_t* bytes)
{
    std::uint64_t value;
    std::memcpy(&value, bytes, sizeof(value));
    return value;
}

void store_u64(std::uint8_t* bytes, std::uint64_t value) { std::memcpy(bytes, &value, sizeof(value)); }

}

RequestQueue::RequestQueue(std::string name, const GuestMemory& memory, io::InterruptLine& completion)
    : m_name(std::move(name))
    , m_memory(memory)
    , m_completion(completion)
{
}

void RequestQueue::read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    std::lock_guard guard(m_lock);
    std::uint32_t value = all_ones;
    if (data.size() == register_width && offset % register_width == 0 && offset < REQUEST_QUEUE_WINDOW_SIZE)
        value = read_register(offset);
    else
        ++m_statistics.protocol_errors;
    // Registers are little-endian, as the guest (x86) sees them; bytes past 32 bits float.
    for (std::size_t index = 0; index < data.size(); ++index)
        data[index] = index < register_width ? static_cast<std::uint8_t>(value >> (8 * index)) : io::floating_bus;
}

void RequestQueue::write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    std::lock_guard guard(m_lock);
    if (data.size() != register_width || offset % register_width != 0 || offset >= REQUEST_QUEUE_WINDOW_SIZE) {
        ++m_statistics.protocol_errors;
        return;
    }
    std::uint32_t value = 0;
    for (std::size_t index = 0; index < register_width; ++index)
        value |= std::uint32_t { data[index] } << (8 * index);
    write_register(offset, value);
}

std::uint32_t RequestQueue::read_register(std::uint64_t offset)
{
    switch (offset) {
    case REQUEST_QUEUE_ADDRESS_LOW:
        return m_address_low;
    case REQUEST_QUEUE_ADDRESS_HIGH:
        return m_address_high;
    case REQUEST_QUEUE_SIZE:
        return m_size_register;
    case REQUEST_QUEUE_STATUS:
        return m_status;
    default:
        // DOORBELL is write-only: with an ioeventfd most kicks never reach the device, so
        // there is no meaningful value to read back.
        ++m_statistics.protocol_errors;
        return all_ones;
    }
}

void RequestQueue::write_register(std::uint64_t offset, std::uint32_t value)
{
    switch (offset) {
    case REQUEST_QUEUE_DOORBELL:
        // The written value is the guest's claim about `submitted`; process() reads the real
        // one from the queue header instead.
        ++m_statistics.kicks;
        process_locked();
        return;
    case REQUEST_QUEUE_ADDRESS_LOW:
        m_address_low = value;
        return;
    case REQUEST_QUEUE_ADDRESS_HIGH:
        m_address_high = value;
        return;
    case REQUEST_QUEUE_SIZE:
        configure(value);
        return;
    default: // STATUS is read-only
        ++m_statistics.protocol_errors;
        return;
    }
}

void RequestQueue::configure(std::uint32_t size)
{
    m_size_register = size;
    m_status = 0;
    m_size = 0;
    m_completed = 0;
    if (size == 0)
        return; // disabled
    if (size > max_size || !std::has_single_bit(size)) {
        mark_broken("SIZE is not a power of two up to 1024");
        return;
    }
    std::uint64_t address = (std::uint64_t { m_address_high } << 32) | m_address_low;
    if (address % queue_alignment != 0) {
        mark_broken("the queue address is not a multiple of 8");
        return;
    }
    auto queue = m_memory.translate(address, queue_bytes(size));
    if (!queue) {
        mark_broken("the queue is not entirely in guest RAM");
        return;
    }
    // RAM regions start on page boundaries on the host and in the guest, so an aligned GPA is
    // an aligned host address; checked anyway, as std::atomic_ref requires it.
    if (reinterpret_cast<std::uintptr_t>(queue->data()) % alignof(std::uint32_t) != 0) {
        mark_broken("the queue's host mapping is misaligned");
        return;
    }
    m_queue_address = address;
    m_size = size;
    // Start both sides from zero. Relaxed: this store publishes nothing; the guest learns the
    // device is ready by reading STATUS, through an exit.
    header_index(*queue, offsetof(request_queue_header, completed)).store(0, std::memory_order_relaxed);
    m_status = REQUEST_QUEUE_STATUS_READY;
}

void RequestQueue::mark_broken(std::string_view why)
{
    m_status = REQUEST_QUEUE_STATUS_BROKEN;
    ++m_statistics.broken_events;
    log::warning("{}: the guest broke the protocol ({}); serving nothing until it writes SIZE again", m_name, why);
}

std::size_t RequestQueue::process()
{
    std::lock_guard guard(m_lock);
    return process_locked();
}

void RequestQueue::count_external_kick()
{
    std::lock_guard guard(m_lock);
    ++m_statistics.external_kicks;
}

RequestQueueStatistics RequestQueue::statistics() const
{
    std::lock_guard guard(m_lock);
    return m_statistics;
}

std::size_t RequestQueue::process_locked()
{
    if (m_status != REQUEST_QUEUE_STATUS_READY)
        return 0;
    // Translated again on every pass rather than remembered from configure(): every access to
    // guest RAM goes through the checked translation (house rule 3).
    auto queue = m_memory.translate(m_queue_address, queue_bytes(m_size));
    if (!queue) {
        mark_broken("the queue is no longer in guest RAM");
        return 0;
    }

    // Read `submitted` exactly once: a guest changing it meanwhile must not make the count
    // checked below differ from the count served. Acquire: the guest wrote the requests before
    // the index that offers them, so they must be read after it (x86 does not reorder loads
    // with loads, so there this only restrains the compiler; on weaker CPUs it is a barrier).
    // An acquire load rather than a relaxed load and a fence: the same ordering, and
    // ThreadSanitizer understands it.
    std::uint32_t submitted = header_index(*queue, offsetof(request_queue_header, submitted)).load(std::memory_order_acquire);

    auto offered = requests_offered(submitted, m_completed, m_size);
    if (!offered) {
        mark_broken("`submitted` moved by more than the queue holds");
        return 0;
    }
    if (*offered == 0)
        return 0;

    std::span<std::uint8_t> ring = queue->subspan(sizeof(request_queue_header));
    for (std::uint32_t index = m_completed; index != submitted; ++index) {
        // SIZE is a power of two dividing 2^32, so the slot sequence runs on smoothly when
        // the 32-bit index wraps.
        std::size_t slot = index & (m_size - 1);
        std::uint8_t* request = ring.data() + slot * sizeof(request_queue_request);
        std::uint64_t input = load_u64(request + offsetof(request_queue_request, input)); // read once
        store_u64(request + offsetof(request_queue_request, output), request_queue_answer(input));
    }

    // Release: the outputs must be in memory before the index that says they are there (x86
    // does not reorder stores with stores, so there this only restrains the compiler).
    m_completed = submitted;
    header_index(*queue, offsetof(request_queue_header, completed)).store(m_completed, std::memory_order_release);
    m_statistics.requests += *offered;

    // One edge per kick served, however many requests it carried. The store to `completed`
    // above is seen by the guest before the interrupt: raising the line is a system call
    // (KVM_IRQ_LINE) or an eventfd write, both full barriers.
    m_completion.set_level(true);
    m_completion.set_level(false);
    ++m_statistics.notifications;
    return *offered;
}

} // namespace stepvmm::devices
