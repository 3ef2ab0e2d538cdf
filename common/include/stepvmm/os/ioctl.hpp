#pragma once
/// @file
/// The one checked ioctl wrapper (house rule 2), in the style of the KVM selftests' macros:
/// every failure names the ioctl and the errno.

#include <stepvmm/os/system_error.hpp>

#include <cerrno>
#include <string_view>
#include <sys/ioctl.h>

namespace stepvmm {

/// Calls ioctl(fd, request, argument); on failure throws SystemError naming @p name.
/// EINTR is retried: a signal aimed at the process must not turn into a failed KVM call.
template<typename Argument>
int checked_ioctl(int fd, unsigned long request, std::string_view name, Argument argument)
{
    for (;;) {
        int result = ::ioctl(fd, request, argument);
        if (result >= 0)
            return result;
        if (errno != EINTR)
            throw SystemError(name, errno);
    }
}

} // namespace stepvmm

/// Calls checked_ioctl with the request's own name as the error text, e.g.
/// STEPVMM_IOCTL(vm_fd, KVM_CREATE_VCPU, 0) fails with "KVM_CREATE_VCPU: ...".
#define STEPVMM_IOCTL(fd, request, argument) \
    ::stepvmm::checked_ioctl((fd), (request), #request, (argument))
