#pragma once
/// @file
/// An epoll(7) event loop: "when this fd is readable, call that function". A device thread
/// runs one, with an ioeventfd per device doorbell and the host fds the devices read from.

#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace stepvmm {

/// One handler per fd, called on the thread that runs the loop whenever the fd is readable.
///
/// Interest is EPOLLIN, level-triggered (epoll(7)): a handler that leaves data unread is called
/// again on the next wait, so a handler may do a bounded amount of work and yield without
/// losing an event. Handlers usually drain a nonblocking fd (EventFd::consume) and then work.
/// epoll also reports EPOLLHUP and EPOLLERR without being asked; the handler is called for
/// those too, so that its read(2) sees the end of input or the error and it can remove the fd
/// (otherwise a hung-up fd would be reported again and again).
///
/// Threads: one thread at a time runs the loop (run() or run_once()) — "the loop thread".
/// add(), remove(), size(), stop() and stopped() may be called from any thread, including from
/// inside a handler. The handler table is guarded by a mutex that is never held while a
/// handler runs, so a handler may call add() and remove() freely.
///
/// The guarantee remove(fd) gives: once it returns, the fd's handler is not running and will
/// not be called again — even if the fd's readiness is already in the batch epoll_wait
/// returned. From the loop thread (in a handler) that holds at once, because handlers run one
/// at a time; the handler may remove itself. From any other thread, remove() waits for a call
/// of that handler that is in progress to return. So whatever the handler uses may be
/// destroyed as soon as remove() returns — but a thread that calls remove() must not hold
/// anything the handler waits for, or the two wait for each other.
///
/// Remove an fd before closing it: epoll forgets a closed fd only when every descriptor of its
/// file is closed, and remove() needs the fd to tell epoll to forget it. Destroy the loop only
/// once no thread runs it any more.
class EventLoop {
public:
    using Handler = std::function<void()>;

    /// epoll_create1(EPOLL_CLOEXEC), and the internal wake-up EventFd that stop() signals.
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    /// Calls @p handler (on the loop thread) whenever @p fd is readable. The fd stays owned by
    /// the caller. Throws std::invalid_argument if @p fd already has a handler or @p handler is
    /// empty, and SystemError("epoll_ctl EPOLL_CTL_ADD fd N") if epoll refuses the fd — e.g.
    /// EPERM for a regular file or /dev/null, which are always readable and cannot be polled.
    void add(int fd, Handler handler);

    /// Forgets @p fd's handler; see the class comment for exactly when it is safe to destroy
    /// what the handler uses. Throws std::invalid_argument if @p fd has no handler, and
    /// SystemError("epoll_ctl EPOLL_CTL_DEL fd N") if epoll refuses (the fd was closed too
    /// early); even then the handler is gone and will not be called again.
    void remove(int fd);

    /// Waits once for readable fds — at most @p timeout, forever for std::nullopt — and calls
    /// their handlers. Returns false once the loop is stopped (then it does not wait at all),
    /// true otherwise (also after a timeout or a signal that interrupted the wait). After
    /// stop() from a handler, the rest of the batch is left for later: level triggering keeps
    /// it pending. An exception from a handler propagates out of run_once(); the rest of the
    /// batch is likewise left pending and the loop stays usable.
    bool run_once(std::optional<std::chrono::milliseconds> timeout);

    /// run_once() until stop().
    void run();

    /// Makes run() return and every later run_once() return false. Thread-safe and callable
    /// from a handler or from another thread: it signals an internal EventFd that the loop
    /// waits on too, so an epoll_wait that is already blocked wakes up. A stopped loop stays
    /// stopped.
    void stop() noexcept;
    [[nodiscard]] bool stopped() const { return m_stopped.load(); }

    /// Handlers registered, not counting the internal wake-up fd.
    [[nodiscard]] std::size_t size() const;

private:
    /// The handler lives in a shared_ptr so that remove(), even from inside the handler
    /// itself, only drops the table's reference: the copy the loop holds while calling it
    /// keeps the std::function (and everything it captured) alive until it returns.
    struct Registration {
        int fd;
        Handler handler;
    };
    /// A number per add(), carried in epoll_event.data. Unlike an fd number it is never
    /// reused, so an event still in the batch after its fd was removed — and maybe added again
    /// with another handler — finds no registration and is dropped.
    using RegistrationId = std::uint64_t;
    static constexpr RegistrationId wake_id = 0;

    void dispatch(RegistrationId id);

    UniqueFd m_epoll;
    EventFd m_wake;
    std::atomic<bool> m_stopped { false };

    mutable std::mutex m_lock;
    std::condition_variable m_handler_returned;
    std::map<RegistrationId, std::shared_ptr<const Registration>> m_registrations; // guarded by m_lock
    std::map<int, RegistrationId> m_ids_by_fd;                                       // guarded by m_lock
    RegistrationId m_next_id = wake_id + 1;                                          // guarded by m_lock
    /// The handler being called right now, and by which thread: remove() from any other
    /// thread waits on m_handler_returned until it is no longer this one.
    struct Running {
        RegistrationId id;
        std::thread::id thread;
    };
    std::optional<Running> m_running; // guarded by m_lock
};

} // namespace stepvmm
