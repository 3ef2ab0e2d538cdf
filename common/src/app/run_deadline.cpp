#include <stepvmm/app/run_deadline.hpp>
#include <stepvmm/os/system_error.hpp>

#include <atomic>
#include <csignal>
#include <sys/time.h>

namespace stepvmm::app {

static std::atomic<bool> deadline_passed { false };

static void on_alarm(int) { deadline_passed.store(true); }

RunDeadline::RunDeadline(std::chrono::seconds limit)
    : m_limit(limit)
{
    deadline_passed.store(false);
    struct sigaction action {};
    action.sa_handler = on_alarm;
    // No SA_RESTART: the point is that KVM_RUN returns with EINTR.
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
