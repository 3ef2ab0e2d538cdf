#pragma once
/// @file
/// Where a vCPU thread's time goes, as the host sees it: user (the VMM's own code), system (the
/// kernel, KVM included) and guest (time the CPU ran the guest). mpstat's %usr/%sys/%guest.

#include <optional>
#include <string>

namespace stepvmm::stats {

/// CPU time of one thread, in seconds.
struct ThreadTimes {
    double user = 0;   ///< utime minus guest time (the kernel adds guest time to utime)
    double system = 0; ///< stime
    double guest = 0;  ///< guest_time

    [[nodiscard]] ThreadTimes operator-(const ThreadTimes& earlier) const
    {
        return { user - earlier.user, system - earlier.system, guest - earlier.guest };
    }
    [[nodiscard]] double total() const { return user + system + guest; }
};

/// Parses the contents of /proc/PID/task/TID/stat (proc(5): fields 14 utime, 15 stime,
/// 43 guest_time, in clock ticks). std::nullopt if malformed.
[[nodiscard]] std::optional<ThreadTimes> parse_thread_stat(const std::string& stat, long ticks_per_second);

/// The calling thread's times (/proc/thread-self/stat).
[[nodiscard]] ThreadTimes current_thread_times();

/// "user 12.0%  system 80.0%  guest 8.0%  of 1.234 s CPU".
[[nodiscard]] std::string format_split(const ThreadTimes& times);

} // namespace stepvmm::stats
