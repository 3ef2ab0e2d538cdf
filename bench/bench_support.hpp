#pragma once
/// @file
/// Small helpers the benchmarks share: run a chapter VMM as a subprocess, read the figures
/// from its "summary" section, take medians, and borrow hugetlb pages for one measurement.

#include <stepvmm/mem/backing.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stepvmm::bench {

/// What a finished subprocess left behind.
struct ProcessResult {
    int exit_status = 0;  ///< exit code, or 128 + signal number if it was killed
    std::string output;   ///< stdout and stderr, interleaved as written

    [[nodiscard]] bool succeeded() const { return exit_status == 0; }
};

/// Runs @p argv (argv[0] is a path, not searched in PATH) with stdout and stderr captured
/// through one pipe and waits for it. Throws SystemError if it cannot be started.
[[nodiscard]] ProcessResult run_process(const std::vector<std::string>& argv);

/// The one line that explains why a VMM run failed: its last "error:" line, else its last
/// non-empty line, else the exit status.
[[nodiscard]] std::string failure_line(const ProcessResult& result);

/// The figures chapter 02 prints in its "summary" section.
struct Ch02Summary {
    std::string kvm;                 ///< the "KVM: ..." line without the prefix
    double setup_ms = 0;             ///< VM set-up (backing allocation + slots)
    double first_touch_mib_s = 0;    ///< one store per 4 KiB page, ring 3
    double warm_touch_mib_s = 0;     ///< every 8-byte word, ring 3
    BackingEvidence evidence;        ///< smaps of high RAM in the VMM process
};

/// Parses chapter 02's output; std::nullopt if any of the summary lines is missing.
[[nodiscard]] std::optional<Ch02Summary> parse_ch02_summary(std::string_view output);

/// The median of @p values (the mean of the middle two for an even count); 0 for none.
[[nodiscard]] double median(std::vector<double> values);

/// Makes sure a hugetlb pool has @p pages free for as long as it lives, growing
/// /sys/kernel/mm/hugepages/hugepages-<size>kB/nr_hugepages if needed (root only), and puts
/// the original value back on destruction — and on SIGINT/SIGTERM/SIGHUP, so an interrupted
/// benchmark does not leave gigabytes pinned.
class HugetlbReservation {
public:
    /// Throws UserError with one line when the pages cannot be had.
    HugetlbReservation(Backing backing, std::uint64_t pages);
    ~HugetlbReservation();
    HugetlbReservation(const HugetlbReservation&) = delete;
    HugetlbReservation& operator=(const HugetlbReservation&) = delete;

private:
    void restore() noexcept;

    std::string m_path;
    std::optional<std::uint64_t> m_original; ///< set only if we changed the pool
};

} // namespace stepvmm::bench
