#pragma once
/// @file
/// Host errors as exceptions whose text names the failing call and errno (house rule 2).

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace stepvmm {

/// A host system call failed. what() reads like "KVM_CREATE_VM: Permission denied (errno 13)".
class SystemError : public std::runtime_error {
public:
    SystemError(std::string_view call, int error_number);
    SystemError(std::string_view call, int error_number, std::string_view hint);

    /// The errno value the call failed with.
    [[nodiscard]] int error_number() const { return m_error_number; }

private:
    int m_error_number;
};

/// A problem with the user's input (a file, an option, a guest image) that is not a host error.
class UserError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The guest misbehaved (crashed, broke a protocol, pointed outside its RAM). Never a reason
/// for the VMM to crash: chapters report it as one line and exit with a distinct status.
class GuestError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Throws SystemError(call, errno) when @p result is negative; returns @p result otherwise.
template<typename Int>
Int check_syscall(Int result, std::string_view call)
{
    if (result < 0)
        throw SystemError(call, errno);
    return result;
}

} // namespace stepvmm
