#include <stepvmm/os/event_loop.hpp>
#include <stepvmm/os/system_error.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <fmt/format.h>
#include <stdexcept>
#include <sys/epoll.h>

namespace stepvmm {

// How many ready fds one epoll_wait reports at most. More are not lost: level triggering
// reports the rest on the next wait.
static constexpr int events_per_wait = 32;

static int milliseconds_for_epoll(std::optional<std::chrono::milliseconds> timeout)
{
    if (!timeout)
        return -1; // epoll_wait(2): -1 waits until something happens
    auto count = std::clamp<std::chrono::milliseconds::rep>(timeout->count(), 0, INT_MAX);
    return static_cast<int>(count);
}

static void watch_for_input(int epoll_fd, int fd, std::uint64_t id, std::string_view what)
{
    epoll_event event {};
    event.events = EPOLLIN; // no EPOLLET: level-triggered
    event.data.u64 = id;
    check_syscall(::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event), what);
}

EventLoop::EventLoop()
    : m_epoll(check_syscall(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1"))
{
    watch_for_input(m_epoll.get(), m_wake.fd(), wake_id, "epoll_ctl EPOLL_CTL_ADD wake-up eventfd");
}

EventLoop::~EventLoop() = default;

void EventLoop::add(int fd, Handler handler)
{
    if (!handler)
        throw std::invalid_argument(fmt::format("EventLoop::add: empty handler for fd {}", fd));
    auto registration = std::make_shared<const Registration>(Registration { fd, std::move(handler) });
    std::lock_guard guard(m_lock);
    if (m_ids_by_fd.contains(fd))
        throw std::invalid_argument(fmt::format("EventLoop::add: fd {} already has a handler", fd));
    RegistrationId id = m_next_id;
    // Under the lock, so the loop thread cannot see an event for this id before the table has it.
    watch_for_input(m_epoll.get(), fd, id, fmt::format("epoll_ctl EPOLL_CTL_ADD fd {}", fd));
    ++m_next_id;
    m_registrations.emplace(id, std::move(registration));
    m_ids_by_fd.emplace(fd, id);
}

void EventLoop::remove(int fd)
{
    // Declared before the lock so that it dies after the lock is released: destroying the
    // handler destroys what it captured, and that may well call back into this loop.
    std::shared_ptr<const Registration> removed;
    std::unique_lock lock(m_lock);
    auto found = m_ids_by_fd.find(fd);
    if (found == m_ids_by_fd.end())
        throw std::invalid_argument(fmt::format("EventLoop::remove: fd {} has no handler", fd));
    RegistrationId id = found->second;
    m_ids_by_fd.erase(found);
    auto registration = m_registrations.find(id);
    removed = std::move(registration->second);
    m_registrations.erase(registration);
    // From here on dispatch() finds no registration for id: an event for it that is already
    // in the current batch is dropped.

    int delete_error = 0;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr) < 0)
        delete_error = errno;

    // A call already in progress on the loop thread may still be using what the handler
    // captured; let it return, unless this is the loop thread (the handler itself, or another
    // handler: either way nothing else is running).
    auto self = std::this_thread::get_id();
    m_handler_returned.wait(lock, [&] { return !m_running || m_running->id != id || m_running->thread == self; });

    if (delete_error != 0)
        throw SystemError(fmt::format("epoll_ctl EPOLL_CTL_DEL fd {}", fd), delete_error);
}

bool EventLoop::run_once(std::optional<std::chrono::milliseconds> timeout)
{
    if (m_stopped.load())
        return false;
    std::array<epoll_event, events_per_wait> events {};
    int count = ::epoll_wait(m_epoll.get(), events.data(), events_per_wait, milliseconds_for_epoll(timeout));
    if (count < 0) {
        if (errno == EINTR)
            return !m_stopped.load(); // a signal handler ran; the caller decides whether to wait again
        throw SystemError("epoll_wait", errno);
    }
    for (int index = 0; index < count; ++index) {
        // stop() from a handler: leave the rest of the batch pending rather than keep going.
        if (m_stopped.load())
            return false;
        RegistrationId id = events[static_cast<std::size_t>(index)].data.u64;
        if (id == wake_id)
            m_wake.consume(); // only there to end epoll_wait; m_stopped says why
        else
            dispatch(id);
    }
    return !m_stopped.load();
}

void EventLoop::dispatch(RegistrationId id)
{
    std::shared_ptr<const Registration> registration;
    {
        std::lock_guard guard(m_lock);
        auto found = m_registrations.find(id);
        if (found == m_registrations.end())
            return; // removed after epoll_wait returned: its handler must not run
        registration = found->second;
        m_running = Running { id, std::this_thread::get_id() };
    }
    // Drop our reference first (if remove() already ran, this destroys the handler), then tell
    // a remove() waiting in another thread that the handler is done.
    auto finished = [&] {
        registration.reset();
        std::lock_guard guard(m_lock);
        m_running.reset();
        m_handler_returned.notify_all();
    };
    try {
        registration->handler();
    } catch (...) {
        finished();
        throw;
    }
    finished();
}

void EventLoop::run()
{
    while (run_once(std::nullopt)) {
    }
}

void EventLoop::stop() noexcept
{
    m_stopped.store(true);
    try {
        m_wake.signal();
    } catch (const SystemError&) {
        // EAGAIN: the counter is full, so the fd is readable and a wake-up is pending anyway.
    }
}

std::size_t EventLoop::size() const
{
    std::lock_guard guard(m_lock);
    return m_ids_by_fd.size();
}

} // namespace stepvmm
