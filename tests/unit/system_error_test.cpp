// House rules 1 and 2: host errors name the call and errno; every fd is owned by a UniqueFd.

#include <stepvmm/os/ioctl.hpp>
#include <stepvmm/os/system_error.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <optional>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>

using namespace stepvmm;

namespace {

bool fd_is_open(int fd)
{
    errno = 0;
    int result = ::fcntl(fd, F_GETFD);
    if (result == -1)
        REQUIRE(errno == EBADF);
    return result != -1;
}

UniqueFd open_dev_null() { return UniqueFd::open("/dev/null", O_RDONLY); }

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
};

Pipe make_pipe()
{
    std::array<int, 2> fds {};
    check_syscall(::pipe2(fds.data(), O_CLOEXEC), "pipe2");
    return { UniqueFd(fds[0]), UniqueFd(fds[1]) };
}

}

TEST_CASE("SystemError text names the call, the errno text and the errno number", "[system_error]")
{
    SystemError error("KVM_CREATE_VM", EACCES);
    CHECK(std::string(error.what()) == "KVM_CREATE_VM: Permission denied (errno 13)");
    CHECK(error.error_number() == EACCES);
}

TEST_CASE("SystemError with a hint keeps the call and errno first and adds the hint", "[system_error]")
{
    SystemError error("open /dev/kvm", ENOENT, "is the kvm module loaded?");
    CHECK_THAT(error.what(), Catch::StartsWith("open /dev/kvm: No such file or directory (errno 2)")
            && Catch::EndsWith("is the kvm module loaded?"));
    CHECK(error.error_number() == ENOENT);
}

TEST_CASE("STEPVMM_IOCTL on an fd that rejects the request throws SystemError named after the ioctl", "[system_error]")
{
    auto pipe = make_pipe();
    auto dev_null = open_dev_null();
    for (int fd : { dev_null.get(), pipe.read_end.get() }) {
        CAPTURE(fd);
        try {
            STEPVMM_IOCTL(fd, KVM_GET_API_VERSION, 0);
            FAIL("KVM_GET_API_VERSION succeeded on an fd that is not /dev/kvm");
        } catch (const SystemError& error) {
            CHECK_THAT(error.what(), Catch::StartsWith("KVM_GET_API_VERSION: "));
            CHECK(error.error_number() == ENOTTY);
        }
    }
}

TEST_CASE("checked_ioctl returns the result of an ioctl that succeeds", "[system_error]")
{
    auto pipe = make_pipe();
    REQUIRE(::write(pipe.write_end.get(), "abc", 3) == 3);
    int available = -1;
    CHECK(checked_ioctl(pipe.read_end.get(), FIONREAD, "FIONREAD", &available) == 0);
    CHECK(available == 3);
}

TEST_CASE("check_syscall passes results through and throws SystemError for negative ones", "[system_error]")
{
    CHECK(check_syscall(7, "anything") == 7);
    CHECK(check_syscall(ssize_t { 0 }, "anything") == 0);
    try {
        check_syscall(::dup(-1), "dup");
        FAIL("dup(-1) succeeded");
    } catch (const SystemError& error) {
        CHECK(error.error_number() == EBADF);
        CHECK_THAT(error.what(), Catch::StartsWith("dup: "));
    }
}

TEST_CASE("UniqueFd closes its fd when destroyed", "[unique_fd]")
{
    int raw = -1;
    {
        auto fd = open_dev_null();
        raw = fd.get();
        REQUIRE(fd_is_open(raw));
    }
    CHECK_FALSE(fd_is_open(raw));
}

TEST_CASE("UniqueFd move-assignment closes the old fd and takes the new one", "[unique_fd]")
{
    auto target = open_dev_null();
    auto source = open_dev_null();
    int old_fd = target.get();
    int moved_fd = source.get();

    target = std::move(source);
    CHECK(target.get() == moved_fd);
    CHECK_FALSE(fd_is_open(old_fd));
    CHECK(fd_is_open(moved_fd));
}

TEST_CASE("a moved-from UniqueFd does not close the fd it gave away", "[unique_fd]")
{
    int raw = -1;
    std::optional<UniqueFd> owner;
    {
        auto original = open_dev_null();
        raw = original.get();
        owner.emplace(std::move(original));
    }
    CHECK(owner->get() == raw);
    CHECK(fd_is_open(raw));
    owner.reset();
    CHECK_FALSE(fd_is_open(raw));
}

TEST_CASE("UniqueFd::open adds O_CLOEXEC", "[unique_fd]")
{
    auto fd = open_dev_null();
    CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("UniqueFd::open of a missing path throws SystemError naming the path", "[unique_fd]")
{
    const std::string path = "/nonexistent/stepvmm-unit-test";
    try {
        (void)UniqueFd::open(path, O_RDONLY);
        FAIL("opening a missing path succeeded");
    } catch (const SystemError& error) {
        CHECK(error.error_number() == ENOENT);
        CHECK_THAT(error.what(), Catch::Contains(path) && Catch::Contains("errno 2"));
    }
}
