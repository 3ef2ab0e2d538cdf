// EventLoop: which handler runs, level triggering, removing handlers from inside the loop and
// from other threads, and stopping. Every wait has a timeout so that a bug fails a test
// instead of hanging it.

#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/event_loop.hpp>
#include <stepvmm/os/system_error.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace stepvmm;
using namespace std::chrono_literals;

namespace {

// Long enough never to be reached when things work, short enough to fail quickly when not.
constexpr auto patience = 2s;

// Runs loop.run() on a thread of its own. If run() does not return by itself (stop() being
// broken is what some tests check), the destructor gets it out through a rescue fd whose
// handler throws, so that a failing test does not hang.
class LoopRunner {
public:
    explicit LoopRunner(EventLoop& loop)
        : m_loop(loop)
    {
        m_loop.add(m_rescue.fd(), [] { throw Rescued {}; });
        m_finished = m_done.get_future();
        m_thread = std::thread([this] {
            try {
                m_loop.run();
            } catch (...) {
                // Rescued, or a handler failed; either way the test's own checks report it.
            }
            m_done.set_value();
        });
    }
    ~LoopRunner()
    {
        if (!finishes_within(0ms))
            m_rescue.signal();
        m_thread.join();
    }
    LoopRunner(const LoopRunner&) = delete;
    LoopRunner& operator=(const LoopRunner&) = delete;

    bool finishes_within(std::chrono::milliseconds timeout) { return m_finished.wait_for(timeout) == std::future_status::ready; }
    [[nodiscard]] std::thread::id thread_id() const { return m_thread.get_id(); }

private:
    struct Rescued { };
    EventLoop& m_loop;
    EventFd m_rescue;
    std::promise<void> m_done;
    std::future<void> m_finished;
    std::thread m_thread;
};

// Sets a flag when destroyed: captured by a handler, it tells when the handler was destroyed.
struct DestructionFlag {
    explicit DestructionFlag(std::atomic<bool>& destroyed)
        : m_destroyed(destroyed)
    {
    }
    ~DestructionFlag() { m_destroyed = true; }
    DestructionFlag(const DestructionFlag&) = delete;
    DestructionFlag& operator=(const DestructionFlag&) = delete;
    std::atomic<bool>& m_destroyed;
};

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
};

// fd -> link text ("anon_inode:[eventpoll]") for every anonymous-inode fd of the process.
std::map<int, std::string> anonymous_fds()
{
    std::map<int, std::string> fds;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code error;
        auto target = std::filesystem::read_symlink(entry.path(), error).string();
        if (!error && target.starts_with("anon_inode:"))
            fds.emplace(std::stoi(entry.path().filename().string()), target);
    }
    return fds;
}

Pipe make_pipe()
{
    std::array<int, 2> fds {};
    check_syscall(::pipe2(fds.data(), O_CLOEXEC | O_NONBLOCK), "pipe2");
    return { UniqueFd(fds[0]), UniqueFd(fds[1]) };
}

}

TEST_CASE("EventLoop calls the handler of the fd that is ready, and only that one", "[event_loop]")
{
    EventLoop loop;
    EventFd first, second;
    int first_calls = 0, second_calls = 0;
    loop.add(first.fd(), [&] {
        first.consume();
        ++first_calls;
    });
    loop.add(second.fd(), [&] {
        second.consume();
        ++second_calls;
    });

    second.signal();
    CHECK(loop.run_once(patience));
    CHECK(first_calls == 0);
    CHECK(second_calls == 1);

    first.signal();
    CHECK(loop.run_once(patience));
    CHECK(first_calls == 1);
    CHECK(second_calls == 1);
}

TEST_CASE("EventLoop run_once with nothing ready waits for its timeout and returns true", "[event_loop]")
{
    EventLoop loop;
    EventFd event;
    int calls = 0;
    loop.add(event.fd(), [&] { ++calls; });

    CHECK(loop.run_once(0ms));
    auto start = std::chrono::steady_clock::now();
    CHECK(loop.run_once(20ms));
    CHECK(std::chrono::steady_clock::now() - start >= 15ms); // it waited rather than spun
    CHECK(calls == 0);
}

TEST_CASE("EventLoop is level-triggered: a handler that leaves the fd readable is called again", "[event_loop]")
{
    EventLoop loop;
    EventFd event;
    int calls = 0;
    bool consume = false;
    loop.add(event.fd(), [&] {
        ++calls;
        if (consume)
            event.consume();
    });

    event.signal();
    for (int turn = 0; turn < 3; ++turn)
        CHECK(loop.run_once(patience));
    CHECK(calls == 3); // without consuming, every wait reports the fd again

    consume = true;
    CHECK(loop.run_once(patience));
    CHECK(calls == 4);
    CHECK(loop.run_once(0ms)); // drained: nothing more
    CHECK(calls == 4);
}

TEST_CASE("EventLoop calls a handler on hang-up so it can see the end of input and remove itself", "[event_loop]")
{
    EventLoop loop;
    Pipe pipe = make_pipe();
    int end_of_input = 0;
    loop.add(pipe.read_end.get(), [&] {
        std::array<char, 16> buffer {};
        if (::read(pipe.read_end.get(), buffer.data(), buffer.size()) == 0) {
            ++end_of_input;
            loop.remove(pipe.read_end.get());
        }
    });

    {
        UniqueFd closing = std::move(pipe.write_end); // the only write end: the reader sees a hang-up
    }
    CHECK(loop.run_once(patience));
    CHECK(end_of_input == 1);
    CHECK(loop.size() == 0);
    CHECK(loop.run_once(0ms));
    CHECK(end_of_input == 1);
}

TEST_CASE("EventLoop lets a handler remove its own fd; the handler lives until it returns", "[event_loop]")
{
    EventLoop loop;
    EventFd event;
    std::atomic<bool> destroyed { false };
    bool destroyed_during_call = true;
    int calls = 0;
    auto flag = std::make_shared<DestructionFlag>(destroyed);
    loop.add(event.fd(), [&loop, &event, &destroyed, &destroyed_during_call, &calls, flag] {
        // Everything used after remove() is copied out first: if remove() destroyed this
        // lambda, its captures would be gone, but these locals would not.
        auto* loop_pointer = &loop;
        auto* destroyed_pointer = &destroyed;
        auto* result = &destroyed_during_call;
        ++calls;
        loop_pointer->remove(event.fd()); // does not consume: only removal stops the calls
        *result = destroyed_pointer->load();
    });
    flag.reset();

    event.signal();
    CHECK(loop.run_once(patience));
    CHECK(calls == 1);
    CHECK_FALSE(destroyed_during_call);
    CHECK(destroyed); // and once it returned, nothing kept it
    CHECK(loop.size() == 0);

    CHECK(loop.run_once(0ms)); // still readable, but nobody is called
    CHECK(calls == 1);
}

TEST_CASE("EventLoop: a handler removing another fd that is ready in the same batch keeps it from running", "[event_loop]")
{
    EventLoop loop;
    std::array<EventFd, 2> events;
    std::array<int, 2> calls {};
    for (std::size_t index = 0; index < 2; ++index) {
        loop.add(events[index].fd(), [&, index] {
            ++calls[index];
            loop.remove(events[1 - index].fd());
        });
    }
    // Both ready before the wait, so one epoll_wait reports both; neither handler consumes.
    events[0].signal();
    events[1].signal();
    CHECK(loop.run_once(patience));
    CHECK(calls[0] + calls[1] == 1);
    CHECK(loop.size() == 1);
}

TEST_CASE("EventLoop: an fd removed and added again within a batch gets only the new handler, on the next wait", "[event_loop]")
{
    EventLoop loop;
    std::array<EventFd, 2> events;
    std::array<int, 2> old_calls {};
    std::array<int, 2> new_calls {};
    for (std::size_t index = 0; index < 2; ++index) {
        loop.add(events[index].fd(), [&, index] {
            ++old_calls[index];
            EventFd& other = events[1 - index];
            loop.remove(other.fd());
            loop.add(other.fd(), [&new_calls, &other, index] {
                other.consume();
                ++new_calls[1 - index];
            });
            events[index].consume();
        });
    }
    events[0].signal();
    events[1].signal();
    // The same fd number is registered again, but the event in the batch belonged to the old
    // registration: neither the old nor the new handler may take it.
    CHECK(loop.run_once(patience));
    CHECK(old_calls[0] + old_calls[1] == 1);
    CHECK(new_calls[0] + new_calls[1] == 0);

    CHECK(loop.run_once(patience)); // the fd is still readable: now the new handler runs
    CHECK(old_calls[0] + old_calls[1] == 1);
    CHECK(new_calls[0] + new_calls[1] == 1);
    CHECK((old_calls[0] == 1 ? new_calls[1] : new_calls[0]) == 1);
}

TEST_CASE("EventLoop accepts add and remove from another thread while it runs", "[event_loop]")
{
    // Everything the handlers use is declared before the runner, so it outlives the thread.
    EventLoop loop;
    EventFd event, marker;
    std::atomic<int> calls { 0 };
    std::atomic<std::thread::id> handler_thread {};
    auto first_call = std::make_shared<std::promise<void>>();
    std::promise<void> marker_seen;
    LoopRunner runner(loop);

    // Added while run() blocks in epoll_wait: the next signal reaches the handler.
    loop.add(event.fd(), [&, first_call] {
        ++calls;
        handler_thread = std::this_thread::get_id();
        if (calls == 1)
            first_call->set_value();
        // Does not consume: while registered, it is called on every turn of the loop.
    });
    event.signal();
    REQUIRE(first_call->get_future().wait_for(patience) == std::future_status::ready);
    CHECK(handler_thread.load() == runner.thread_id());

    loop.remove(event.fd());
    int calls_at_remove = calls;

    // A marker handled after remove() returned: by then the removed fd, still readable, would
    // have been called again had it still been registered.
    loop.add(marker.fd(), [&] {
        if (marker.consume())
            marker_seen.set_value();
    });
    marker.signal();
    REQUIRE(marker_seen.get_future().wait_for(patience) == std::future_status::ready);
    CHECK(calls == calls_at_remove);
    CHECK(loop.size() == 2); // the marker and the runner's rescue fd

    loop.stop();
    CHECK(runner.finishes_within(patience));
}

TEST_CASE("EventLoop remove from another thread waits for a call of that handler in progress", "[event_loop]")
{
    EventLoop loop;
    EventFd event;
    std::promise<void> entered, release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> returned { false };
    LoopRunner runner(loop);
    loop.add(event.fd(), [&] {
        event.consume();
        entered.set_value();
        released.wait_for(patience);
        returned = true;
    });
    event.signal();
    REQUIRE(entered.get_future().wait_for(patience) == std::future_status::ready);

    auto removal = std::async(std::launch::async, [&] { loop.remove(event.fd()); });
    CHECK(removal.wait_for(50ms) == std::future_status::timeout); // the handler is still running
    release.set_value();
    REQUIRE(removal.wait_for(patience) == std::future_status::ready);
    removal.get();
    CHECK(returned); // remove() returned only after the handler did

    loop.stop();
    CHECK(runner.finishes_within(patience));
}

TEST_CASE("EventLoop stop from another thread wakes a run() that is blocked waiting", "[event_loop]")
{
    EventLoop loop;
    EventFd event;
    std::promise<void> running;
    LoopRunner runner(loop);
    loop.add(event.fd(), [&] {
        if (event.consume())
            running.set_value();
    });
    event.signal();
    REQUIRE(running.get_future().wait_for(patience) == std::future_status::ready);
    CHECK_FALSE(runner.finishes_within(20ms)); // back in epoll_wait, with nothing to do

    loop.stop();
    CHECK(runner.finishes_within(patience));
    CHECK(loop.stopped());
}

TEST_CASE("EventLoop stop from a handler ends the loop and leaves the rest of the batch pending", "[event_loop]")
{
    EventLoop loop;
    std::array<EventFd, 2> events;
    std::array<int, 2> calls {};
    for (std::size_t index = 0; index < 2; ++index) {
        loop.add(events[index].fd(), [&, index] {
            ++calls[index];
            loop.stop();
        });
    }
    events[0].signal();
    events[1].signal();
    CHECK_FALSE(loop.stopped());

    // Bounded: a loop that ignored stop() would fail here rather than spin for ever.
    int turns = 0;
    while (turns < 10 && loop.run_once(patience))
        ++turns;
    CHECK(turns == 0);
    CHECK(loop.stopped());
    CHECK(calls[0] + calls[1] == 1);

    // Stopped stays stopped: no wait, no handler, even with fds ready.
    CHECK_FALSE(loop.run_once(patience));
    loop.run();
    CHECK(calls[0] + calls[1] == 1);
}

TEST_CASE("EventLoop stop before run makes run return at once", "[event_loop]")
{
    EventLoop loop;
    loop.stop();
    CHECK(loop.stopped());
    CHECK_FALSE(loop.run_once(patience));
    auto start = std::chrono::steady_clock::now();
    loop.run();
    CHECK(std::chrono::steady_clock::now() - start < patience);
}

TEST_CASE("EventLoop add of an fd that already has a handler throws and keeps the first handler", "[event_loop]")
{
    EventLoop loop;
    EventFd event;
    int first_calls = 0, second_calls = 0;
    loop.add(event.fd(), [&] {
        event.consume();
        ++first_calls;
    });
    CHECK_THROWS_AS(loop.add(event.fd(), [&] { ++second_calls; }), std::invalid_argument);
    CHECK(loop.size() == 1);

    event.signal();
    CHECK(loop.run_once(patience));
    CHECK(first_calls == 1);
    CHECK(second_calls == 0);
}

TEST_CASE("EventLoop refuses an empty handler and removing an fd it does not know", "[event_loop]")
{
    EventLoop loop;
    EventFd event;
    CHECK_THROWS_AS(loop.add(event.fd(), EventLoop::Handler {}), std::invalid_argument);
    CHECK_THROWS_AS(loop.remove(event.fd()), std::invalid_argument);
    CHECK(loop.size() == 0);
}

TEST_CASE("EventLoop add of an fd epoll cannot poll throws SystemError naming epoll_ctl", "[event_loop]")
{
    // /dev/null (like a regular file) is always ready and has no poll support: EPERM.
    EventLoop loop;
    UniqueFd null_device = UniqueFd::open("/dev/null", O_RDONLY);
    try {
        loop.add(null_device.get(), [] {});
        FAIL("epoll_ctl should have refused /dev/null");
    } catch (const SystemError& error) {
        CHECK(error.error_number() == EPERM);
        CHECK_THAT(error.what(), Catch::StartsWith("epoll_ctl EPOLL_CTL_ADD fd"));
    }
    CHECK(loop.size() == 0);
}

TEST_CASE("EventLoop size counts the registered handlers, not its own wake-up fd", "[event_loop]")
{
    EventLoop loop;
    CHECK(loop.size() == 0);
    EventFd first, second;
    loop.add(first.fd(), [] {});
    loop.add(second.fd(), [] {});
    CHECK(loop.size() == 2);
    loop.remove(first.fd());
    CHECK(loop.size() == 1);
    loop.stop(); // signals the wake-up fd, which is not counted either way
    CHECK(loop.size() == 1);
}

TEST_CASE("EventLoop passes a handler's exception to the caller of run_once and stays usable", "[event_loop]")
{
    EventLoop loop;
    EventFd failing, working;
    int working_calls = 0;
    loop.add(failing.fd(), [&] {
        failing.consume();
        throw std::runtime_error("handler failed");
    });
    loop.add(working.fd(), [&] {
        working.consume();
        ++working_calls;
    });

    failing.signal();
    CHECK_THROWS_WITH(loop.run_once(patience), "handler failed");
    working.signal();
    CHECK(loop.run_once(patience));
    CHECK(working_calls == 1);

    // The failed call is over, so a remove from another thread does not wait for it.
    auto removal = std::async(std::launch::async, [&] { loop.remove(failing.fd()); });
    CHECK(removal.wait_for(patience) == std::future_status::ready);
}

TEST_CASE("EventLoop's own fds (epoll and wake-up eventfd) are close-on-exec", "[event_loop]")
{
    // They are private: find them as the anonymous-inode fds a new loop adds to the process.
    auto before = anonymous_fds();
    EventLoop loop;
    auto after = anonymous_fds();
    std::vector<std::string> added;
    int checked = 0;
    for (const auto& [fd, kind] : after) {
        if (before.contains(fd))
            continue;
        added.push_back(kind);
        int flags = ::fcntl(fd, F_GETFD);
        REQUIRE(flags >= 0);
        CHECK((flags & FD_CLOEXEC) != 0);
        ++checked;
    }
    std::sort(added.begin(), added.end());
    CHECK(added == std::vector<std::string> { "anon_inode:[eventfd]", "anon_inode:[eventpoll]" });
    CHECK(checked == 2);
}
