// EventFd against the counter semantics of eventfd(2): what write adds, what read returns in
// counter and semaphore mode, and the flags every eventfd of the VMM is created with.

#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <optional>
#include <poll.h>

using namespace stepvmm;

namespace {

constexpr std::uint64_t largest_count = 0xfffffffffffffffe; // eventfd(2): the counter's maximum

bool is_readable(const EventFd& event)
{
    pollfd request { event.fd(), POLLIN, 0 };
    int ready = ::poll(&request, 1, 0);
    REQUIRE(ready >= 0);
    return ready == 1 && (request.revents & POLLIN) != 0;
}

// Checked before any consume() on an empty counter: a blocking eventfd would hang the test
// there instead of failing it.
void require_nonblocking(const EventFd& event)
{
    int flags = ::fcntl(event.fd(), F_GETFL);
    REQUIRE(flags >= 0);
    REQUIRE((flags & O_NONBLOCK) != 0);
}

}

TEST_CASE("EventFd in counter mode: signals add up and one consume takes the whole count", "[event_fd]")
{
    EventFd event;
    require_nonblocking(event);
    CHECK(event.mode() == EventFdMode::Counter);

    event.signal(3);
    CHECK(event.consume() == std::optional<std::uint64_t>(3));
    CHECK(event.consume() == std::nullopt);

    // Three kicks before anybody looks are one wake-up that reads 3: the doorbell coalesces.
    event.signal();
    event.signal();
    event.signal();
    CHECK(event.consume() == std::optional<std::uint64_t>(3));
    CHECK(event.consume() == std::nullopt);
}

TEST_CASE("EventFd in semaphore mode: each consume takes one", "[event_fd]")
{
    EventFd event(EventFdMode::Semaphore);
    require_nonblocking(event);
    CHECK(event.mode() == EventFdMode::Semaphore);

    event.signal(3);
    CHECK(event.consume() == std::optional<std::uint64_t>(1));
    CHECK(event.consume() == std::optional<std::uint64_t>(1));
    CHECK(event.consume() == std::optional<std::uint64_t>(1));
    CHECK(event.consume() == std::nullopt);
}

TEST_CASE("EventFd starts at its initial count", "[event_fd]")
{
    EventFd counter(EventFdMode::Counter, 5);
    require_nonblocking(counter);
    CHECK(counter.consume() == std::optional<std::uint64_t>(5));
    CHECK(counter.consume() == std::nullopt);

    EventFd semaphore(EventFdMode::Semaphore, 2);
    require_nonblocking(semaphore);
    CHECK(semaphore.consume() == std::optional<std::uint64_t>(1));
    CHECK(semaphore.consume() == std::optional<std::uint64_t>(1));
    CHECK(semaphore.consume() == std::nullopt);
}

TEST_CASE("EventFd consume on a zero counter returns nullopt at once instead of blocking", "[event_fd]")
{
    EventFd event;
    require_nonblocking(event);
    CHECK(event.consume() == std::nullopt);
    CHECK(event.consume() == std::nullopt); // and stays usable
    event.signal();
    CHECK(event.consume() == std::optional<std::uint64_t>(1));
}

TEST_CASE("EventFd is close-on-exec", "[event_fd]")
{
    EventFd event;
    int flags = ::fcntl(event.fd(), F_GETFD);
    REQUIRE(flags >= 0);
    CHECK((flags & FD_CLOEXEC) != 0);

    EventFd semaphore(EventFdMode::Semaphore);
    flags = ::fcntl(semaphore.fd(), F_GETFD);
    REQUIRE(flags >= 0);
    CHECK((flags & FD_CLOEXEC) != 0);
}

TEST_CASE("EventFd is readable exactly while its counter is non-zero", "[event_fd]")
{
    EventFd event;
    CHECK_FALSE(is_readable(event));
    event.signal(2);
    CHECK(is_readable(event));
    CHECK(event.consume() == std::optional<std::uint64_t>(2));
    CHECK_FALSE(is_readable(event));

    EventFd semaphore(EventFdMode::Semaphore, 2);
    CHECK(is_readable(semaphore));
    CHECK(semaphore.consume() == std::optional<std::uint64_t>(1));
    CHECK(is_readable(semaphore)); // one left
    CHECK(semaphore.consume() == std::optional<std::uint64_t>(1));
    CHECK_FALSE(is_readable(semaphore));
}

TEST_CASE("EventFd signal that would overflow the counter throws SystemError naming the write", "[event_fd]")
{
    EventFd event;
    event.signal(largest_count);
    try {
        event.signal(largest_count);
        FAIL("the second signal should have failed with EAGAIN");
    } catch (const SystemError& error) {
        CHECK(error.error_number() == EAGAIN);
        CHECK_THAT(error.what(), Catch::StartsWith("write eventfd"));
    }
    // The failed write added nothing.
    CHECK(event.consume() == std::optional<std::uint64_t>(largest_count));
}

TEST_CASE("EventFd signal of 0xffffffffffffffff is refused with EINVAL", "[event_fd]")
{
    EventFd event;
    try {
        event.signal(0xffffffffffffffff);
        FAIL("eventfd(2) refuses this value");
    } catch (const SystemError& error) {
        CHECK(error.error_number() == EINVAL);
        CHECK_THAT(error.what(), Catch::StartsWith("write eventfd"));
    }
    CHECK(event.consume() == std::nullopt);
}
