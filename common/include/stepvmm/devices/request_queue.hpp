#pragma once
/// @file
/// The request-queue device of chapter 04: a queue of requests in guest RAM, a doorbell
/// register the guest writes after offering some (the "kick"), and an interrupt the device
/// raises once it has answered them. The contract with the guest is the C header
/// guest/ch04-eventfd/request_queue_abi.h; this model includes it only in its .cpp, so users
/// of this header need not see it.
///
/// The chapter drives the same device three ways, and the device cannot tell them apart:
///   - the doorbell write exits to the VMM, which calls write() on the vCPU thread, and
///     process() runs right there; the completion line is a KVM_IRQ_LINE;
///   - KVM absorbs the doorbell write into an ioeventfd; a device thread wakes up, calls
///     count_external_kick() and process(); the completion line is an irqfd;
///   - as the second, with many requests per kick.
/// It is a smaller cousin of a virtio split virtqueue (chapter 06): `submitted` plays the
/// available ring's idx, `completed` the used ring's idx.

#include <stepvmm/io/device.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace stepvmm {
class GuestMemory;
}

namespace stepvmm::devices {

/// What a RequestQueue has done, for the chapter's summary.
struct RequestQueueStatistics {
    std::uint64_t requests = 0;       ///< requests answered
    std::uint64_t kicks = 0;          ///< DOORBELL writes that reached the device (kicks that exited to the VMM)
    std::uint64_t external_kicks = 0; ///< kicks seen elsewhere, such as an ioeventfd (count_external_kick())
    std::uint64_t notifications = 0;  ///< completion interrupts raised (one per kick that served something)
    /// Times the guest broke the protocol badly enough to stop the device (status BROKEN): an
    /// invalid SIZE, a queue not in RAM, or `submitted` moving by more than the queue holds.
    std::uint64_t broken_events = 0;
    /// Register accesses the ABI does not define: not 32 bits wide, not at a 4-byte-aligned
    /// offset inside the window, or in the wrong direction (writing STATUS, reading DOORBELL).
    std::uint64_t protocol_errors = 0;
};

/// How many requests lie between the device's @p completed index and the guest's
/// @p submitted index of a queue of @p size entries, or std::nullopt when that is more than
/// the queue holds. Both indices run freely and wrap at 2^32, so the distance is their
/// difference modulo 2^32: 3 - 0xfffffffe is 5. A guest that moves `submitted` backwards
/// makes the difference huge, and is caught by the same test (Firecracker treats an
/// available-index jump larger than the queue the same way).
[[nodiscard]] constexpr std::optional<std::uint32_t> requests_offered(std::uint32_t submitted, std::uint32_t completed, std::uint32_t size)
{
    std::uint32_t offered = submitted - completed; // unsigned: wraps modulo 2^32 by definition
    if (offered > size)
        return std::nullopt;
    return offered;
}

/// The device model. Its register window (REQUEST_QUEUE_WINDOW_SIZE bytes) holds 32-bit
/// registers, accessed 32 bits at a time at their own offsets:
///   - DOORBELL (write): a kick. The value is informational and ignored: the guest may lie, so
///     the device trusts only the `submitted` index in the queue header, as a virtio device
///     trusts the available ring's idx rather than the notification's data.
///   - ADDRESS_LOW, ADDRESS_HIGH (write; read back): the queue's guest-physical address. They
///     are latched and take effect at the next SIZE write; a running queue does not move.
///   - SIZE (write; read back): configures the queue. 0 disables the device (STATUS 0). A
///     power of two in [1, max_size] whose queue (the 8-byte header, then SIZE 16-byte requests)
///     lies entirely in one RAM region and starts at a multiple of 8 makes it READY: the device
///     sets header.completed to 0 and expects the guest to start with submitted = 0 (so a
///     guest reconfiguring a queue zeroes `submitted` before writing SIZE). Anything else makes
///     it BROKEN. Every SIZE write leaves BROKEN.
///   - STATUS (read): REQUEST_QUEUE_STATUS_READY or REQUEST_QUEUE_STATUS_BROKEN, never both.
/// Other accesses read as a floating bus (all ones), are dropped when written, and count as
/// protocol errors.
///
/// The guest is hostile (house rule 3): whatever it writes to the registers or the queue, the
/// device touches guest RAM only through GuestMemory::translate(), reads each index and each
/// input once, and at worst stops serving (BROKEN, with one logged warning) until the guest
/// configures it again.
///
/// Threads: read() and write() run on the vCPU thread (register exits); process() and
/// count_external_kick() run on whichever thread serves kicks (the vCPU thread inside a
/// DOORBELL write, or a device thread woken by an ioeventfd); statistics() on any thread.
/// One mutex serialises them all, and the completion line is pulsed with it held, so the line
/// never sees two threads at once.
class RequestQueue final : public io::Device {
public:
    /// The largest SIZE the device accepts (REQUEST_QUEUE_MAX_SIZE).
    static constexpr std::uint32_t max_size = 1024;

    /// Serves queues in @p memory and pulses @p completion after serving a kick. Both must
    /// outlive the device.
    RequestQueue(std::string name, const GuestMemory& memory, io::InterruptLine& completion);

    [[nodiscard]] std::string_view name() const override { return m_name; }
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    /// Answers every request the guest has offered: reads header.submitted once, checks it
    /// against the device's own `completed`, writes each output, then header.completed, then
    /// pulses the completion line once if it answered anything. Returns how many it answered;
    /// 0 (and no pulse) when there was nothing new, or the device is not READY, or the guest
    /// just broke it.
    std::size_t process();

    /// Counts a kick that did not come through the DOORBELL register (an ioeventfd); the
    /// thread that saw it calls this, then process().
    void count_external_kick();

    /// A consistent copy, safe to take from any thread.
    [[nodiscard]] RequestQueueStatistics statistics() const;

private:
    std::uint32_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint32_t value);
    void configure(std::uint32_t size);
    void mark_broken(std::string_view why);
    std::size_t process_locked();

    std::string m_name;
    const GuestMemory& m_memory;
    io::InterruptLine& m_completion;

    mutable std::mutex m_lock; ///< guards everything below
    std::uint32_t m_status = 0;
    std::uint32_t m_address_low = 0;  ///< as last written; takes effect at a SIZE write
    std::uint32_t m_address_high = 0; ///< as last written; takes effect at a SIZE write
    std::uint32_t m_size_register = 0; ///< as last written, valid or not
    // The queue being served (meaningful while READY): where it is, its size, and the device's
    // own count of answered requests. The device never reads `completed` back from guest RAM:
    // the guest could have scribbled on it.
    std::uint64_t m_queue_address = 0;
    std::uint32_t m_size = 0;
    std::uint32_t m_completed = 0;
    RequestQueueStatistics m_statistics;
};

} // namespace stepvmm::devices
