#pragma once
/// @file
/// Running a Linux guest: KVM_RUN until the guest resets or powers off, the VM stops, the
/// time limit passes or the user interrupts. Unlike stepvmm's own guests, Linux has no ucall
/// to say it is done, so every way out is a StopReason rather than an error; the chapter
/// decides what each means.

#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/io/bus.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace stepvmm {
class Vcpu;
}

namespace stepvmm::boot {

/// Why run_linux() returned.
enum class StopReason {
    GuestReset,     ///< the guest asked for a reset (i8042 command 0xFE): its clean power-off
    Shutdown,       ///< KVM_EXIT_SHUTDOWN: a triple fault, or a reset KVM saw first
    InternalError,  ///< KVM_EXIT_INTERNAL_ERROR, e.g. an instruction KVM's emulator cannot run
    FailEntry,      ///< KVM_EXIT_FAIL_ENTRY: the hardware refused the vCPU state
    UnexpectedExit, ///< an exit this loop does not handle
    TimedOut,       ///< the time limit passed
    StopRequested,  ///< the stop hook said so (e.g. Ctrl-C)
};

/// A short name for @p reason ("guest reset", "time limit").
[[nodiscard]] std::string describe(StopReason reason);

/// What the loop calls.
struct LinuxRunHooks {
    /// Checked after every exit and every interrupted KVM_RUN; true ends the run.
    std::function<bool()> stop_requested;
    /// Checked after every exit; true ends the run as GuestReset (e.g. the i8042 saw 0xFE).
    std::function<bool()> reset_requested;
    /// Every exit, before it is handled (a --verbose trace).
    std::function<void(const VcpuExit&)> on_exit;
};

/// How the run ended.
struct LinuxRunResult {
    StopReason reason = StopReason::TimedOut;
    std::string detail;         ///< the exit's description, for the fatal ones
    guest::RunOutcome outcome;  ///< exit counts and time split, for stats::format_exit_report
};

/// Runs @p vcpu, dispatching port I/O to @p pio and MMIO to @p mmio (unclaimed accesses read
/// as a floating bus and are counted, as on a PC), for at most @p time_limit.
LinuxRunResult run_linux(Vcpu& vcpu, io::Bus& pio, io::Bus& mmio, const LinuxRunHooks& hooks, std::chrono::seconds time_limit);

} // namespace stepvmm::boot
