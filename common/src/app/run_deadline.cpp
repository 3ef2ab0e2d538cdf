#include <stepvmm/app/run_deadline.hpp>
#include <stepvmm/app/vcpu_kick.hpp>
#include <stepvmm/os/system_error.hpp>

#include <atomic>
#include <csignal>
#include <sys/time.h>

namespace stepvmm::app {

static std::atomic<bool> deadline_passed { false };

static void on_alarm(int)
{
    deadline_passed.store(true);
    kick_vcpu_from_signal_handler();
}

RunDeadline::RunDeadline(std::chrono::seconds limit)
    : m_limit(limit)
{
    deadline_passed.store(false);
    struct sigaction action {};
    action.sa_handler = on_alarm;
    // SA_RESTART keeps the VMM's own blocking calls (a write to a slow pipe) from failing;
    // KVM_RUN is never restarted, it returns -EINTR whatever the flag says.
    action.sa_flags = SA_RESTART;
    check_syscall(::sigaction(SIGALRM, &action, nullptr), "sigaction SIGALRM");
    itimerval timer {};
    timer.it_value.tv_sec = static_cast<time_t>(limit.count());
    check_syscall(::setitimer(ITIMER_REAL, &timer, nullptr), "setitimer");
}

RunDeadline::~RunDeadline()
{
    itimerval disarmed {};
    ::setitimer(ITIMER_REAL, &disarmed, nullptr);
}

bool RunDeadline::expired() const { return deadline_passed.load(); }

} // namespace stepvmm::app
