#pragma once
/// @file
/// The exit profile a chapter prints at the end of a run and on SIGUSR1: exits by reason,
/// accesses by device, where the time went.

#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/io/bus.hpp>
#include <stepvmm/stats/thread_times.hpp>

#include <string>
#include <vector>

namespace stepvmm::stats {

/// A multi-line report: exit counts, per-device and unclaimed accesses on each bus, time in
/// KVM_RUN vs in the VMM's exit handling (per exit), and the vCPU thread's user/system/guest
/// CPU split (@p cpu: the thread's times since the run started).
[[nodiscard]] std::string format_exit_report(const guest::RunOutcome& outcome, const std::vector<const io::Bus*>& buses,
    const ThreadTimes& cpu);

} // namespace stepvmm::stats
