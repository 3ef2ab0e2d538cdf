#include <stepvmm/stats/exit_report.hpp>

#include <chrono>
#include <fmt/format.h>

namespace stepvmm::stats {

static double microseconds(std::chrono::nanoseconds duration) { return std::chrono::duration<double, std::micro>(duration).count(); }

std::string format_exit_report(const guest::RunOutcome& outcome, const std::vector<const io::Bus*>& buses, const ThreadTimes& cpu)
{
    std::string text = "exit profile\n";
    text += fmt::format("  exits by reason:  {}\n", outcome.exits.summary());
    for (const io::Bus* bus : buses) {
        for (const auto& [device, counts] : bus->device_counts())
            text += fmt::format("  {:<4} {:<14} reads {:>9}  writes {:>9}\n", bus->name(), device, counts.reads, counts.writes);
        auto unclaimed = bus->unclaimed();
        text += fmt::format("  {:<4} {:<14} reads {:>9}  writes {:>9}\n", bus->name(), "(unclaimed)", unclaimed.reads, unclaimed.writes);
    }
    double exits = static_cast<double>(std::max<std::uint64_t>(outcome.exits.total(), 1));
    text += fmt::format("  time in KVM_RUN:  {:>10.0f} us   (guest + KVM, {:.2f} us per exit)\n", microseconds(outcome.in_kvm_run),
        microseconds(outcome.in_kvm_run) / exits);
    text += fmt::format("  time in the VMM:  {:>10.0f} us   (exit handling, {:.2f} us per exit)\n", microseconds(outcome.handling),
        microseconds(outcome.handling) / exits);
    text += fmt::format("  vCPU thread CPU:  {}\n", format_split(cpu));
    return text;
}

} // namespace stepvmm::stats
