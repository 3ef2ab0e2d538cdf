#include <stepvmm/app/log.hpp>
#include <stepvmm/os/device_thread.hpp>
#include <stepvmm/os/system_error.hpp>

#include <fmt/format.h>
#include <pthread.h>
#include <stdexcept>

namespace stepvmm {

// pthread_setname_np(3): names are at most 16 bytes including the NUL (TASK_COMM_LEN).
static constexpr std::size_t longest_thread_name = 15;

static std::string checked_thread_name(std::string name)
{
    if (name.size() > longest_thread_name)
        throw std::invalid_argument(fmt::format("thread name \"{}\" is longer than {} bytes", name, longest_thread_name));
    return name;
}

static std::string describe(const std::exception_ptr& failure)
{
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& error) {
        return error.what();
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}

DeviceThread::DeviceThread(std::string name)
    : m_name(checked_thread_name(std::move(name)))
{
    m_loop.add(m_task_ready.fd(), [this] { run_posted_tasks(); });
    // Started last, when everything the thread touches exists.
    m_thread = std::jthread([this](std::stop_token stop) { thread_main(std::move(stop)); });
}

DeviceThread::~DeviceThread() { stop_and_join(); }

void DeviceThread::thread_main(std::stop_token stop)
{
    // std::jthread's own stop request (its destructor makes one) stops the loop as well.
    std::stop_callback stop_loop(stop, [this] { m_loop.stop(); });
    try {
        // Named from the inside, before any handler runs, so every handler sees the name.
        if (int error = ::pthread_setname_np(::pthread_self(), m_name.c_str()); error != 0)
            throw SystemError(fmt::format("pthread_setname_np {}", m_name), error);
        m_loop.run();
    } catch (...) {
        std::exception_ptr failure = std::current_exception();
        {
            std::lock_guard guard(m_failure_lock);
            m_failure = failure;
        }
        m_loop.stop();
        log::write(log::Level::Error, "error", "device thread {} stopped: {}", m_name, describe(failure));
    }
}

void DeviceThread::post(std::function<void()> task)
{
    {
        std::lock_guard guard(m_tasks_lock);
        m_tasks.push_back(std::move(task));
    }
    // Counter mode: many posts before the thread looks are one wake-up, and it runs them all.
    m_task_ready.signal();
}

void DeviceThread::run_posted_tasks()
{
    m_task_ready.consume();
    // Take the whole queue and run it without the lock, so a task may post again (its task
    // runs on the next turn, after the fds that are ready now get their turn).
    std::deque<std::function<void()>> tasks;
    {
        std::lock_guard guard(m_tasks_lock);
        tasks.swap(m_tasks);
    }
    for (auto& task : tasks) {
        if (m_loop.stopped())
            return; // stop() from an earlier task: the rest never runs, as documented
        task();
    }
}

void DeviceThread::stop_and_join() noexcept
{
    m_loop.stop();
    if (m_thread.joinable() && m_thread.get_id() != std::this_thread::get_id())
        m_thread.join();
}

std::exception_ptr DeviceThread::failure() const
{
    std::lock_guard guard(m_failure_lock);
    return m_failure;
}

} // namespace stepvmm
