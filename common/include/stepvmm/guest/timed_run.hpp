#pragma once
/// @file
/// The clock behind every chapter's exit profile: each KVM_RUN is timed, the time between two
/// KVM_RUN calls is the VMM's own handling, and every exit is counted. Both run loops (our
/// guests' run_until_done and Linux's run_linux) step the vCPU through it.

#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/kvm/vcpu.hpp>

#include <chrono>

namespace stepvmm::guest {

class TimedRun {
public:
    /// Starts the clock; @p outcome receives the counts and times and must outlive this.
    TimedRun(Vcpu& vcpu, RunOutcome& outcome);

    /// One KVM_RUN: the time since the previous exit counts as handling, the ioctl as
    /// in_kvm_run, and the exit is counted.
    VcpuExit run();

    /// Stops the clock: the handling of the last exit and the elapsed time go into the outcome.
    void finish();

private:
    using Clock = std::chrono::steady_clock;
    Vcpu& m_vcpu;
    RunOutcome& m_outcome;
    Clock::time_point m_start;
    Clock::time_point m_handling_start;
};

} // namespace stepvmm::guest
