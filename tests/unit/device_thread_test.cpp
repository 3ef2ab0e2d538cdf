// DeviceThread: handlers and posted tasks run on a thread of its own that carries its name,
// stopping is idempotent and joins, and a handler's exception is kept for the owner rather
// than ending the process. Every wait has a timeout so that a bug fails instead of hanging.

#include <stepvmm/os/device_thread.hpp>
#include <stepvmm/os/event_fd.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace stepvmm;
using namespace std::chrono_literals;

namespace {

constexpr auto patience = 2s;

// thread_local destructors run while a thread exits, before a join() of it returns: a flag
// set from one tells whether the thread has really ended.
struct ThreadExitFlag {
    std::atomic<bool>* flag = nullptr;
    ~ThreadExitFlag()
    {
        if (flag)
            *flag = true;
    }
};
thread_local ThreadExitFlag thread_exit_flag;

void set_when_this_thread_ends(std::atomic<bool>& flag) { thread_exit_flag.flag = &flag; }

std::string current_thread_name()
{
    std::array<char, 16> name {};
    REQUIRE(::pthread_getname_np(::pthread_self(), name.data(), name.size()) == 0);
    return name.data();
}

// What `top -H` and `ps -L` show: the comm of every thread of this process.
std::vector<std::string> thread_names_of_this_process()
{
    std::vector<std::string> names;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        if (std::getline(comm, name))
            names.push_back(name);
    }
    return names;
}

bool becomes_ready(std::future<void>& future) { return future.wait_for(patience) == std::future_status::ready; }

std::exception_ptr wait_for_failure(const DeviceThread& device)
{
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (!device.failure() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    return device.failure();
}

}

TEST_CASE("DeviceThread runs handlers on a thread of its own that carries its name", "[device_thread]")
{
    EventFd event;
    std::promise<std::pair<std::thread::id, std::string>> seen;
    DeviceThread device("stepvmm-device");
    CHECK(device.name() == "stepvmm-device");
    device.loop().add(event.fd(), [&] {
        if (event.consume())
            seen.set_value({ std::this_thread::get_id(), current_thread_name() });
    });
    event.signal();

    auto result = seen.get_future();
    REQUIRE(result.wait_for(patience) == std::future_status::ready);
    auto [thread, name] = result.get();
    CHECK(thread != std::this_thread::get_id());
    CHECK(name == "stepvmm-device");
    CHECK_THAT(thread_names_of_this_process(), Catch::VectorContains(std::string("stepvmm-device")));

    device.stop_and_join();
    CHECK(device.failure() == nullptr);
}

TEST_CASE("DeviceThread takes names of up to 15 bytes and refuses longer ones", "[device_thread]")
{
    CHECK_THROWS_AS(DeviceThread("sixteen-chars-ab"), std::invalid_argument);

    std::promise<std::string> seen;
    DeviceThread device("fifteen-chars-a");
    device.post([&] { seen.set_value(current_thread_name()); });
    auto name = seen.get_future();
    REQUIRE(name.wait_for(patience) == std::future_status::ready);
    CHECK(name.get() == "fifteen-chars-a");
}

TEST_CASE("DeviceThread post runs tasks on the device thread in the order posted", "[device_thread]")
{
    std::vector<int> order; // touched only by the device thread until `done` is ready
    std::promise<std::thread::id> done;
    DeviceThread device("poster");
    for (int index = 0; index < 100; ++index)
        device.post([&order, index] { order.push_back(index); });
    device.post([&] {
        // Posted from the device thread itself: runs on a later turn, after this task.
        device.post([&] {
            order.push_back(1000);
            done.set_value(std::this_thread::get_id());
        });
        order.push_back(100);
    });

    auto thread = done.get_future();
    REQUIRE(thread.wait_for(patience) == std::future_status::ready);
    CHECK(thread.get() != std::this_thread::get_id());
    std::vector<int> expected;
    for (int index = 0; index <= 100; ++index)
        expected.push_back(index);
    expected.push_back(1000);
    CHECK(order == expected);
}

TEST_CASE("DeviceThread stop_and_join ends the thread, may be called again, and stops posted tasks", "[device_thread]")
{
    std::atomic<bool> ended { false }, late_task_ran { false };
    std::promise<void> armed;
    DeviceThread device("stopper");
    device.post([&] {
        set_when_this_thread_ends(ended);
        armed.set_value();
    });
    auto armed_future = armed.get_future();
    REQUIRE(becomes_ready(armed_future));
    CHECK_FALSE(ended);

    device.stop_and_join();
    CHECK(ended); // joined: the thread is gone, not just asked to go
    CHECK(device.loop().stopped());
    device.stop_and_join(); // again: nothing to do, nothing thrown

    device.post([&] { late_task_ran = true; });
    device.stop_and_join();
    CHECK_FALSE(late_task_ran);
    CHECK(device.failure() == nullptr);
}

TEST_CASE("DeviceThread destructor stops and joins the thread", "[device_thread]")
{
    std::atomic<bool> ended { false };
    std::promise<void> armed;
    auto armed_future = armed.get_future();
    {
        EventFd idle; // a registered fd that never fires: the loop is blocked in epoll_wait
        DeviceThread device("scoped");
        device.loop().add(idle.fd(), [] {});
        device.post([&] {
            set_when_this_thread_ends(ended);
            armed.set_value();
        });
        REQUIRE(becomes_ready(armed_future));
        CHECK_FALSE(ended);
    }
    CHECK(ended);
}

TEST_CASE("DeviceThread stop_and_join from its own handler only stops the loop, and the owner joins later", "[device_thread]")
{
    std::atomic<bool> ended { false };
    std::promise<void> returned;
    auto returned_future = returned.get_future();
    DeviceThread device("self-stop");
    device.post([&] {
        set_when_this_thread_ends(ended);
        device.stop_and_join(); // a thread cannot join itself: this must only stop
        returned.set_value();
    });
    REQUIRE(becomes_ready(returned_future));
    device.stop_and_join();
    CHECK(ended);
    CHECK(device.loop().stopped());
    CHECK(device.failure() == nullptr);
}

TEST_CASE("DeviceThread keeps a handler's exception for failure() and stops its loop", "[device_thread]")
{
    EventFd event;
    std::atomic<bool> later_task_ran { false };
    DeviceThread device("failing");
    device.loop().add(event.fd(), [&] {
        event.consume();
        throw std::runtime_error("device broke");
    });
    CHECK(device.failure() == nullptr);
    event.signal();

    auto failure = wait_for_failure(device);
    REQUIRE(failure != nullptr);
    CHECK(device.loop().stopped());
    device.post([&] { later_task_ran = true; });
    CHECK_NOTHROW(device.stop_and_join());
    CHECK_FALSE(later_task_ran);
    CHECK_THROWS_WITH(std::rethrow_exception(device.failure()), "device broke");
}

TEST_CASE("DeviceThread keeps a posted task's exception, even one that is not a std::exception", "[device_thread]")
{
    std::atomic<bool> next_task_ran { false };
    DeviceThread device("task-fails");
    device.post([] { throw 42; });
    device.post([&] { next_task_ran = true; });

    auto failure = wait_for_failure(device);
    REQUIRE(failure != nullptr);
    device.stop_and_join();
    CHECK_FALSE(next_task_ran);
    CHECK_THROWS_AS(std::rethrow_exception(failure), int);
}
