#pragma once
/// @file
/// eventfd(2): a counter in the kernel that one side adds to and the other side reads, with a
/// file descriptor so poll/epoll and KVM can wait on it.
///
/// How the counter behaves (eventfd(2)):
/// - The kernel keeps one unsigned 64-bit counter per eventfd. Reads and writes move exactly
///   8 bytes: the host-endian value of a std::uint64_t.
/// - write(2) adds its value to the counter. The largest counter is 0xfffffffffffffffe; a
///   write that would pass it blocks, or fails with EAGAIN on a nonblocking fd. Writing
///   0xffffffffffffffff itself is EINVAL.
/// - read(2) on a counter that is 0 blocks, or fails with EAGAIN on a nonblocking fd.
///   Otherwise it depends on the mode:
///   - counter mode returns the whole count and resets it to 0: three writes of 1 are read
///     back as one 3;
///   - semaphore mode (EFD_SEMAPHORE) returns 1 and decrements: three writes of 1 are read
///     back as 1, 1, 1.
/// - The fd is readable (poll/epoll) while the counter is non-zero.
///
/// Why KVM uses it: an eventfd is the smallest possible doorbell. With an ioeventfd
/// (KVM API doc §4.59, KVM_IOEVENTFD) KVM itself writes to the eventfd when the guest writes a
/// device register, and the vCPU goes straight back into the guest instead of exiting to the
/// VMM. With an irqfd (§4.75, KVM_IRQFD) it is the other way round: any VMM thread writes to
/// the eventfd and KVM injects the interrupt. In counter mode one fd is one doorbell that
/// coalesces: ten kicks before the device thread looks are one wake-up and a read of 10, not
/// ten wake-ups — the device then serves everything that is queued, as a real device would.

#include <stepvmm/os/unique_fd.hpp>

#include <cstdint>
#include <optional>

namespace stepvmm {

/// What a read of the counter returns: everything (Counter) or one unit (Semaphore).
enum class EventFdMode {
    Counter,   ///< read returns the whole count and resets it to 0
    Semaphore, ///< EFD_SEMAPHORE: read returns 1 and decrements the count
};

/// Owns one eventfd. Created with EFD_CLOEXEC (house rule 1) and EFD_NONBLOCK: the event loop
/// reads it only after epoll said it is readable, and a spurious wake-up (another reader got
/// there first, or a wake that was already consumed) must turn into "nothing to do", never
/// into a device thread blocked in read(2). KVM does not care either way: it writes from the
/// kernel side.
class EventFd {
public:
    /// eventfd(2) with @p initial as the starting count. Throws SystemError("eventfd").
    explicit EventFd(EventFdMode mode = EventFdMode::Counter, unsigned initial = 0);

    /// The descriptor, for epoll and for KVM_IOEVENTFD / KVM_IRQFD. Still owned by this object.
    [[nodiscard]] int fd() const { return m_fd.get(); }
    [[nodiscard]] EventFdMode mode() const { return m_mode; }

    /// Adds @p count to the counter (write(2)), waking whoever waits on the fd. Thread-safe.
    /// Throws SystemError("write eventfd") with EAGAIN when the counter would pass
    /// 0xfffffffffffffffe, and with EINVAL for a count of 0xffffffffffffffff.
    void signal(std::uint64_t count = 1);

    /// Takes from the counter (read(2)): the whole count in Counter mode, 1 in Semaphore mode.
    /// std::nullopt when the counter is 0 (EAGAIN): nothing was signalled since the last
    /// consume. Throws SystemError("read eventfd") for any other failure.
    std::optional<std::uint64_t> consume();

private:
    UniqueFd m_fd;
    EventFdMode m_mode;
};

} // namespace stepvmm
