#pragma once
/// @file
/// A wall-clock limit for a guest run. A guest spinning without exits never returns from
/// KVM_RUN; a timer signal makes KVM_RUN return -EINTR (api.rst §4.10), and the loop then
/// sees that the deadline has passed. The handler also kicks the armed vCPU (vcpu_kick.hpp):
/// if the signal lands while the VMM is between two KVM_RUN calls, the next call returns
/// -EINTR at once instead of entering a guest that may never exit again.

#include <chrono>

namespace stepvmm::app {

/// Arms a one-shot SIGALRM for the process while alive. One instance at a time.
class RunDeadline {
public:
    explicit RunDeadline(std::chrono::seconds limit);
    ~RunDeadline();
    RunDeadline(const RunDeadline&) = delete;
    RunDeadline& operator=(const RunDeadline&) = delete;

    /// True once the limit has passed.
    [[nodiscard]] bool expired() const;
    [[nodiscard]] std::chrono::seconds limit() const { return m_limit; }

private:
    std::chrono::seconds m_limit;
};

} // namespace stepvmm::app
