#pragma once
/// @file
/// A signal that asks the run loop to do something (print statistics on SIGUSR1) without
/// doing it inside the handler: the handler sets a flag and kicks the armed vCPU
/// (vcpu_kick.hpp), KVM_RUN returns -EINTR, and the loop acts on the flag in normal context.

#include <csignal>

namespace stepvmm::app {

/// Catches @p signal_number while alive. KVM_RUN returns -EINTR when it arrives (KVM never
/// restarts KVM_RUN); the VMM's other system calls are restarted (SA_RESTART).
class SignalFlag {
public:
    explicit SignalFlag(int signal_number);
    ~SignalFlag();
    SignalFlag(const SignalFlag&) = delete;
    SignalFlag& operator=(const SignalFlag&) = delete;

    /// True once per delivered signal (reading clears it).
    [[nodiscard]] bool take();

private:
    int m_signal_number;
    struct sigaction m_previous {};
};

} // namespace stepvmm::app
