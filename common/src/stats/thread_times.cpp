#include <stepvmm/stats/thread_times.hpp>

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <vector>

namespace stepvmm::stats {

std::optional<ThreadTimes> parse_thread_stat(const std::string& stat, long ticks_per_second)
{
    // Field 2 (comm) is in parentheses and may contain spaces: start after the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos || ticks_per_second <= 0)
        return std::nullopt;
    std::istringstream rest(stat.substr(close + 1));
    std::vector<std::string> fields;
    std::string field;
    while (rest >> field)
        fields.push_back(field);
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    static constexpr std::size_t utime = 14 - 3, stime = 15 - 3, guest_time = 43 - 3;
    if (fields.size() <= guest_time)
        return std::nullopt;
    // Clock-tick counts are unsigned integers: anything else ("12abc", "1e3", "-5") is not a
    // stat line we understand.
    auto ticks_of = [&](std::size_t index) -> std::optional<double> {
        const std::string& text = fields[index];
        std::uint64_t value = 0;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc {} || end != text.data() + text.size())
            return std::nullopt;
        return static_cast<double>(value);
    };
    auto user_ticks = ticks_of(utime);
    auto system_ticks = ticks_of(stime);
    auto guest_ticks = ticks_of(guest_time);
    if (!user_ticks || !system_ticks || !guest_ticks)
        return std::nullopt;
    auto ticks = static_cast<double>(ticks_per_second);
    // The kernel scales utime and stime to the task's runtime but reports guest_time raw, so
    // on an almost all-guest thread utime can come out below guest_time: clamp at zero.
    double user_only = std::max(0.0, *user_ticks - *guest_ticks);
    return ThreadTimes { user_only / ticks, *system_ticks / ticks, *guest_ticks / ticks };
}

ThreadTimes current_thread_times()
{
    std::ifstream file("/proc/thread-self/stat");
    std::string contents((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    return parse_thread_stat(contents, ::sysconf(_SC_CLK_TCK)).value_or(ThreadTimes {});
}

std::string format_split(const ThreadTimes& times)
{
    double total = times.total();
    if (total <= 0)
        return "no CPU time measured (under one clock tick)";
    return fmt::format("user {:.1f}%  system {:.1f}%  guest {:.1f}%  of {:.3f} s CPU", 100 * times.user / total,
        100 * times.system / total, 100 * times.guest / total, total);
}

} // namespace stepvmm::stats
