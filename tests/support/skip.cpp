#include "skip.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace stepvmm::test {

void skip_test(const std::string& reason)
{
    std::printf("SKIPPED: %s\n", reason.c_str());
    std::fflush(stdout);
    std::_Exit(STEPVMM_SKIP_CODE);
}

std::optional<std::string> kvm_unavailable_reason()
{
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        ::close(fd);
        return std::nullopt;
    }
    return std::string("cannot open /dev/kvm: ") + std::strerror(errno);
}

void require_kvm()
{
    if (auto reason = kvm_unavailable_reason())
        skip_test(*reason);
}

void require_root(const std::string& why)
{
    if (::geteuid() != 0)
        skip_test("needs root to " + why);
}

}
