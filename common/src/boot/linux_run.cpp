#include <stepvmm/app/run_deadline.hpp>
#include <stepvmm/app/vcpu_kick.hpp>
#include <stepvmm/boot/linux_run.hpp>
#include <stepvmm/guest/timed_run.hpp>
#include <stepvmm/kvm/vcpu.hpp>

#include <fmt/format.h>

namespace stepvmm::boot {

std::string describe(StopReason reason)
{
    switch (reason) {
    case StopReason::GuestReset:
        return "guest reset";
    case StopReason::Shutdown:
        return "shutdown";
    case StopReason::InternalError:
        return "KVM internal error";
    case StopReason::FailEntry:
        return "failed entry";
    case StopReason::UnexpectedExit:
        return "unexpected exit";
    case StopReason::TimedOut:
        return "time limit";
    case StopReason::StopRequested:
        return "stopped";
    }
    return "unknown";
}

LinuxRunResult run_linux(Vcpu& vcpu, io::Bus& pio, io::Bus& mmio, const LinuxRunHooks& hooks, std::chrono::seconds time_limit)
{
    LinuxRunResult result;
    guest::RunOutcome& outcome = result.outcome;
    app::ArmedVcpu armed(vcpu);
    app::RunDeadline deadline(time_limit);
    guest::TimedRun timed(vcpu, outcome);
    auto stop = [&](StopReason reason, std::string detail) {
        result.reason = reason;
        result.detail = std::move(detail);
    };
    for (;;) {
        VcpuExit exit = timed.run();
        if (hooks.on_exit)
            hooks.on_exit(exit);

        if (const auto* io = std::get_if<IoExit>(&exit)) {
            pio.dispatch(*io);
        } else if (const auto* mmio_exit = std::get_if<MmioExit>(&exit)) {
            mmio.access(mmio_exit->direction, mmio_exit->guest_physical_address, mmio_exit->data);
        } else if (std::holds_alternative<InterruptedExit>(exit)) {
            if (deadline.expired()) {
                stop(StopReason::TimedOut, fmt::format("still running after {} s", time_limit.count()));
                break;
            }
        } else if (std::holds_alternative<ShutdownExit>(exit)) {
            stop(StopReason::Shutdown, fatal_exit_message(exit).value_or(""));
            break;
        } else if (std::holds_alternative<InternalErrorExit>(exit)) {
            stop(StopReason::InternalError, fatal_exit_message(exit).value_or(""));
            break;
        } else if (std::holds_alternative<FailEntryExit>(exit)) {
            stop(StopReason::FailEntry, fatal_exit_message(exit).value_or(""));
            break;
        } else {
            // With the in-kernel irqchip KVM handles HLT itself; anything else is news.
            stop(StopReason::UnexpectedExit, fmt::format("{} {}", exit_name(exit), describe_exit(exit)));
            break;
        }
        if (hooks.reset_requested && hooks.reset_requested()) {
            stop(StopReason::GuestReset, "the guest reset the machine through the i8042");
            break;
        }
        if (hooks.stop_requested && hooks.stop_requested()) {
            stop(StopReason::StopRequested, "stop requested");
            break;
        }
    }
    timed.finish();
    return result;
}

} // namespace stepvmm::boot
