#pragma once
/// @file
/// Small helpers the benchmarks share: run a chapter VMM as a subprocess, read the figures
/// from its "summary" section, take medians, borrow hugetlb pages for one measurement, and
/// make a scratch disk image that is gone afterwards.

#include <stepvmm/mem/backing.hpp>

#include <charconv>
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
/// through one pipe and waits for it. Its stdin is /dev/null: a benchmark never hands its
/// terminal to a VMM (chapter 03's puts it in raw mode to feed its UART). Throws SystemError
/// if it cannot be started.
[[nodiscard]] ProcessResult run_process(const std::vector<std::string>& argv);

/// The one line that explains why a VMM run failed: its last "error:" line, else its last
/// non-empty line, else the exit status.
[[nodiscard]] std::string failure_line(const ProcessResult& result);

/// @p text cut at its newlines (no line keeps its '\n'; a last line without one counts).
[[nodiscard]] std::vector<std::string_view> split_lines(std::string_view text);

/// The number that follows @p key in @p line, spaces skipped ("Rss 524288 kB", key "Rss"
/// -> 524288); std::nullopt if the key or the number is missing.
template<typename Number>
[[nodiscard]] std::optional<Number> number_after(std::string_view line, std::string_view key)
{
    std::size_t at = line.find(key);
    if (at == std::string_view::npos)
        return std::nullopt;
    std::string_view rest = line.substr(at + key.size());
    while (!rest.empty() && rest.front() == ' ')
        rest.remove_prefix(1);
    Number value {};
    auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    if (error != std::errc {})
        return std::nullopt;
    return value;
}

/// The number that comes just before @p key in @p line, spaces skipped ("... 114 sectors/s",
/// key "sectors/s" -> 114). Reading a figure by its unit survives changes to the label and
/// the padding in front of it.
[[nodiscard]] std::optional<double> number_before(std::string_view line, std::string_view key);

/// The first word of /proc/loadavg ("2.63"), or "?": other work on the machine shows up in
/// every figure, so each benchmark says how busy the machine was.
[[nodiscard]] std::string load_average();

/// Why this process cannot run a VM (/dev/kvm missing or not read-write), or std::nullopt.
[[nodiscard]] std::optional<std::string> kvm_unusable_reason();

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

/// Exits, sectors and timings from chapter 03's "summary" and "exit profile" sections.
struct Ch03Summary {
    /// One phase of the guest's disk exercise ("disk writes:" / "disk reads:").
    struct DiskPhase {
        std::uint64_t sectors = 0;
        std::uint64_t disk_exits = 0; ///< accesses to the legacy disk's ports during the phase
        double sectors_per_second = 0;
    };
    /// The vCPU thread's CPU split, in percent of its CPU time; absent under one clock tick.
    struct CpuSplit {
        double user_percent = 0;
        double system_percent = 0;
        double guest_percent = 0;
        double seconds = 0;
    };
    std::string kvm;                  ///< the "KVM: ..." line without the prefix
    DiskPhase writes;                 ///< WRITE SECTORS commands and the FLUSH CACHE after them
    DiskPhase reads;                  ///< READ SECTORS commands
    double pio_exit_us = 0;           ///< one OUT to a port that ignores it, round trip
    double mmio_exit_us = 0;          ///< one store to an MMIO page that ignores it, round trip
    double kvm_run_us_per_exit = 0;   ///< time inside KVM_RUN (guest + KVM) / all exits
    double vmm_us_per_exit = 0;       ///< time in the VMM between two KVM_RUNs / all exits
    std::optional<CpuSplit> cpu;
};

/// Parses chapter 03's output, from its "summary" line on (so nothing the guest prints on
/// its console before that can be mistaken for a figure); std::nullopt if a figure is missing.
[[nodiscard]] std::optional<Ch03Summary> parse_ch03_summary(std::string_view output);

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
    int m_cleanup_slot = -1;                 ///< what the signal handler puts back
};

/// A file of @p size bytes (sparse, zero) made with mkstemps from @p path_template (which
/// ends in "XXXXXX" plus @p suffix_length characters), removed on destruction — and on
/// SIGINT/SIGTERM/SIGHUP, so an interrupted benchmark leaves no disk image behind.
class ScratchFile {
public:
    /// Throws SystemError naming the call when the file cannot be made.
    ScratchFile(std::string path_template, int suffix_length, std::uint64_t size);
    ~ScratchFile();
    ScratchFile(const ScratchFile&) = delete;
    ScratchFile& operator=(const ScratchFile&) = delete;

    [[nodiscard]] const std::string& path() const { return m_path; }

private:
    std::string m_path;
    int m_cleanup_slot = -1;
};

} // namespace stepvmm::bench
