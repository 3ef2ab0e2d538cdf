#include <stepvmm/app/signal_flag.hpp>
#include <stepvmm/app/vcpu_kick.hpp>
#include <stepvmm/os/system_error.hpp>

#include <atomic>

namespace stepvmm::app {

// Indexed by signal number; only async-signal-safe lock-free atomics are touched in handlers.
static std::atomic<bool> raised[NSIG];

static void on_signal(int signal_number)
{
    raised[signal_number].store(true);
    kick_vcpu_from_signal_handler();
}

SignalFlag::SignalFlag(int signal_number)
    : m_signal_number(signal_number)
{
    raised[signal_number].store(false);
    struct sigaction action {};
    action.sa_handler = on_signal;
    // SA_RESTART protects the VMM's other blocking calls; KVM_RUN still returns -EINTR.
    action.sa_flags = SA_RESTART;
    check_syscall(::sigaction(signal_number, &action, &m_previous), "sigaction");
}

SignalFlag::~SignalFlag() { ::sigaction(m_signal_number, &m_previous, nullptr); }

bool SignalFlag::take() { return raised[m_signal_number].exchange(false); }

} // namespace stepvmm::app
