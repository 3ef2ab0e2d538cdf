#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/system_error.hpp>

#include <cerrno>
#include <sys/eventfd.h>
#include <unistd.h>

namespace stepvmm {

static int create_event_fd(EventFdMode mode, unsigned initial)
{
    int flags = EFD_CLOEXEC | EFD_NONBLOCK;
    if (mode == EventFdMode::Semaphore)
        flags |= EFD_SEMAPHORE;
    return check_syscall(::eventfd(initial, flags), "eventfd");
}

EventFd::EventFd(EventFdMode mode, unsigned initial)
    : m_fd(create_event_fd(mode, initial))
    , m_mode(mode)
{
}

void EventFd::signal(std::uint64_t count)
{
    for (;;) {
        // eventfd(2): a write is always the 8 bytes of one std::uint64_t, never a short write.
        ssize_t result = ::write(m_fd.get(), &count, sizeof(count));
        if (result >= 0)
            return;
        if (errno != EINTR)
            throw SystemError("write eventfd", errno);
    }
}

std::optional<std::uint64_t> EventFd::consume()
{
    for (;;) {
        std::uint64_t count = 0;
        ssize_t result = ::read(m_fd.get(), &count, sizeof(count));
        if (result >= 0)
            return count;
        if (errno == EAGAIN)
            return std::nullopt; // the counter is 0: nothing was signalled
        if (errno != EINTR)
            throw SystemError("read eventfd", errno);
    }
}

} // namespace stepvmm
