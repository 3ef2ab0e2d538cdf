#include <stepvmm/guest/timed_run.hpp>

namespace stepvmm::guest {

TimedRun::TimedRun(Vcpu& vcpu, RunOutcome& outcome)
    : m_vcpu(vcpu)
    , m_outcome(outcome)
    , m_start(Clock::now())
    , m_handling_start(m_start)
{
}

VcpuExit TimedRun::run()
{
    auto entry = Clock::now();
    m_outcome.handling += entry - m_handling_start;
    VcpuExit exit = m_vcpu.run();
    m_handling_start = Clock::now();
    m_outcome.in_kvm_run += m_handling_start - entry;
    m_outcome.exits.count(exit);
    return exit;
}

void TimedRun::finish()
{
    auto end = Clock::now();
    m_outcome.handling += end - m_handling_start;
    m_outcome.elapsed = end - m_start;
}

} // namespace stepvmm::guest
