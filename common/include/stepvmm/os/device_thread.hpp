#pragma once
/// @file
/// A named thread that runs an EventLoop: where device work happens when KVM, not a vCPU exit,
/// tells the VMM about a guest's kick (ioeventfd), so the vCPU thread can stay in the guest.

#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/event_loop.hpp>

#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

namespace stepvmm {

/// Owns an EventLoop and the std::jthread that runs it from construction until
/// stop_and_join() or destruction. Register fds with loop().add() from any thread (see
/// EventLoop for what is thread-safe); hand over one-off work with post().
///
/// Failures: an exception that escapes a handler or a task does not reach std::terminate.
/// The thread catches it, logs one line to stderr at once (so it is never silent, even if the
/// owner forgets to look), stops its loop and keeps the exception for failure(). From then on
/// no handler or task runs. stop_and_join() never throws — it also runs in the destructor —
/// so the owner asks failure() after it and rethrows if it wants to:
///
///     device_thread.stop_and_join();
///     if (auto failure = device_thread.failure())
///         std::rethrow_exception(failure);
class DeviceThread {
public:
    /// Starts the thread, named @p name (pthread_setname_np(3)) so that `top -H`, `ps -L` and
    /// gdb show which thread is which. Throws std::invalid_argument for a name longer than 15
    /// bytes: the kernel keeps 16 bytes with the terminating NUL (TASK_COMM_LEN).
    explicit DeviceThread(std::string name);
    /// stop_and_join().
    ~DeviceThread();
    DeviceThread(const DeviceThread&) = delete;
    DeviceThread& operator=(const DeviceThread&) = delete;

    [[nodiscard]] const std::string& name() const { return m_name; }
    /// The loop the thread runs; handlers added to it are called on this thread.
    [[nodiscard]] EventLoop& loop() { return m_loop; }

    /// Runs @p task on the device thread, after the tasks posted before it (from one posting
    /// thread, tasks run in the order posted). Thread-safe; callable from the device thread
    /// itself, in which case the task runs on a later turn of the loop. Tasks still queued
    /// when the loop stops, and tasks posted after that, never run; they are destroyed with
    /// the DeviceThread. An exception from a task is a failure like one from a handler.
    void post(std::function<void()> task);

    /// Stops the loop and waits for the thread to end. Idempotent and never throws; call it
    /// from the owner's thread (two threads must not join at once). Called on
    /// the device thread itself (from a handler) it only stops the loop: a thread cannot join
    /// itself, so the owner's later stop_and_join() or the destructor does the join.
    void stop_and_join() noexcept;

    /// The first exception that escaped a handler or task, or null. Thread-safe.
    [[nodiscard]] std::exception_ptr failure() const;

private:
    void thread_main(std::stop_token stop);
    void run_posted_tasks();

    std::string m_name;
    EventLoop m_loop;

    EventFd m_task_ready;
    std::mutex m_tasks_lock;
    std::deque<std::function<void()>> m_tasks; // guarded by m_tasks_lock

    mutable std::mutex m_failure_lock;
    std::exception_ptr m_failure; // guarded by m_failure_lock

    // Last: the thread uses every member above, so it must start after them and (jthread's
    // destructor joins) end before them.
    std::jthread m_thread;
};

} // namespace stepvmm
