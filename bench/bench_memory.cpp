// bench_memory — what each host backing costs a guest, next to what it costs the host itself.
//
// For every backing (4k, thp, hugetlb-2m, hugetlb-1g) this runs chapter 02's VMM as a
// subprocess and reads its summary: VM set-up time, the guest's first touch of high RAM (one
// store per 4 KiB page: the cost is the page faults) and its warm touch (every 8-byte word:
// the cost is memory bandwidth through the TLB). In the same run, interleaved with the VM
// runs, this process maps the same amount of host memory with the same backing (the same
// allocate_backing() the VMM uses) and does the same two passes natively: that is the
// baseline the guest figures are printed against. Figures are printed, never asserted.

#include "bench_support.hpp"

#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/mem/backing.hpp>
#include <stepvmm/mem/memory_layout.hpp>
#include <stepvmm/os/system_error.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <unistd.h>
#include <variant>

using namespace stepvmm;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string vmm = STEPVMM_CH02_MEMORY;
    // 1 GiB on each side of the hole, so every backing, hugetlb-1g included, can lay it out.
    std::string mem = "2G";
    std::string hole_start = "1G";
    unsigned repeat = 3;
    std::vector<std::string> backings { "4k", "thp", "hugetlb-2m", "hugetlb-1g" };
};

// One row of figures: medians over the repetitions. set_up_ms is absent for the host rows.
struct Figures {
    std::optional<double> setup_ms;
    double first_touch_mib_s = 0;
    double warm_touch_mib_s = 0;
    BackingEvidence evidence;
};
// A row either has figures or the one line that says why not.
using Row = std::variant<Figures, std::string>;

struct BackingResult {
    Backing backing;
    Row guest;
    Row host;
};

static double mib_per_second(std::uint64_t bytes, Clock::duration elapsed)
{
    return static_cast<double>(bytes) / (1 << 20) / std::chrono::duration<double>(elapsed).count();
}

// The baseline: the guest's two passes (guest/ch02-memory/memory.c, touch_memory), run natively
// on memory from the same allocator, with the same volatile 8-byte stores.
static Figures touch_on_host(std::uint64_t bytes, Backing backing)
{
    std::uint64_t page_size = backing_page_size(backing);
    Mapping memory = allocate_backing((bytes + page_size - 1) / page_size * page_size, backing);
    auto* start = reinterpret_cast<volatile std::uint64_t*>(memory.data());
    std::uint64_t words = bytes / sizeof(std::uint64_t);
    std::uint64_t words_per_page = 4096 / sizeof(std::uint64_t);

    auto begin = Clock::now();
    for (std::uint64_t word = 0; word < words; word += words_per_page)
        start[word] = word;
    auto first_done = Clock::now();
    for (std::uint64_t word = 0; word < words; ++word)
        start[word] = word;
    auto warm_done = Clock::now();

    Figures figures;
    figures.first_touch_mib_s = mib_per_second(bytes, first_done - begin);
    figures.warm_touch_mib_s = mib_per_second(bytes, warm_done - first_done);
    figures.evidence = inspect_backing(memory.data()).value_or(BackingEvidence {});
    return figures;
}

static Figures median_of(const std::vector<Figures>& runs)
{
    std::vector<double> setup, first, warm;
    for (const Figures& run : runs) {
        if (run.setup_ms)
            setup.push_back(*run.setup_ms);
        first.push_back(run.first_touch_mib_s);
        warm.push_back(run.warm_touch_mib_s);
    }
    Figures result;
    if (!setup.empty())
        result.setup_ms = bench::median(setup);
    result.first_touch_mib_s = bench::median(first);
    result.warm_touch_mib_s = bench::median(warm);
    result.evidence = runs.back().evidence; // the same in every run; the last one is as good as any
    return result;
}

// Measures one backing: N VM runs and N host runs, interleaved so both see the same host state.
static BackingResult measure(const Options& options, Backing backing, std::uint64_t touch_bytes, std::string& kvm_line)
{
    BackingResult result { backing, std::string(), std::string() };
    std::optional<bench::HugetlbReservation> reservation;
    if (backing == Backing::Hugetlb2M || backing == Backing::Hugetlb1G) {
        std::uint64_t page_size = backing_page_size(backing);
        // Enough for the whole guest (the VMM maps all of its RAM up front) or the host baseline.
        std::uint64_t bytes = std::max(parse_size(options.mem), touch_bytes);
        try {
            reservation.emplace(backing, (bytes + page_size - 1) / page_size);
        } catch (const std::exception& error) {
            result.guest = result.host = fmt::format("error: {}", error.what());
            return result;
        }
    }

    std::vector<std::string> argv { options.vmm, "--mem", options.mem, "--hole-start", options.hole_start,
        "--backing", std::string(backing_name(backing)) };
    std::vector<Figures> guest_runs, host_runs;
    std::optional<std::string> guest_error, host_error;
    for (unsigned run = 0; run < options.repeat; ++run) {
        if (!guest_error) {
            try {
                bench::ProcessResult vmm = bench::run_process(argv);
                auto summary = bench::parse_ch02_summary(vmm.output);
                if (!vmm.succeeded())
                    guest_error = bench::failure_line(vmm);
                else if (!summary)
                    guest_error = "error: no summary in the VMM's output";
                else {
                    guest_runs.push_back({ summary->setup_ms, summary->first_touch_mib_s, summary->warm_touch_mib_s, summary->evidence });
                    kvm_line = summary->kvm;
                }
            } catch (const std::exception& error) {
                guest_error = fmt::format("error: {}", error.what());
            }
        }
        if (!host_error) {
            try {
                host_runs.push_back(touch_on_host(touch_bytes, backing));
            } catch (const std::exception& error) {
                host_error = fmt::format("error: {}", error.what());
            }
        }
    }
    result.guest = guest_error ? Row(*guest_error) : Row(median_of(guest_runs));
    result.host = host_error ? Row(*host_error) : Row(median_of(host_runs));
    return result;
}

static void print_row(std::string_view backing, std::string_view what, const Row& row)
{
    fmt::print("{:<11} {:<13} ", backing, what);
    if (const auto* error = std::get_if<std::string>(&row)) {
        fmt::print("{}\n", *error);
        return;
    }
    const auto& figures = std::get<Figures>(row);
    fmt::print("{:>9} {:>12.0f} {:>11.0f} {:>10} {:>13} / {}\n",
        figures.setup_ms ? fmt::format("{:.2f}", *figures.setup_ms) : std::string("-"),
        figures.first_touch_mib_s, figures.warm_touch_mib_s,
        fmt::format("{} kB", figures.evidence.kernel_page_size_kib),
        figures.evidence.anon_huge_kib, figures.evidence.hugetlb_kib);
}

static void print_table(const std::vector<BackingResult>& results)
{
    fmt::print("{:<11} {:<13} {:>9} {:>12} {:>11} {:>10} {}\n", "backing", "run", "set-up ms", "first MiB/s",
        "warm MiB/s", "KernelPage", "AnonHugePages / Hugetlb kB");
    fmt::print("{:-<11} {:-<13} {:->9} {:->12} {:->11} {:->10} {:-<26}\n", "", "", "", "", "", "", "");
    for (const BackingResult& result : results) {
        std::string_view name = backing_name(result.backing);
        print_row(name, "guest", result.guest);
        print_row(name, "host (no VM)", result.host);
        const auto* guest = std::get_if<Figures>(&result.guest);
        const auto* host = std::get_if<Figures>(&result.host);
        if (guest && host)
            fmt::print("{:<11} {:<13} {:>9} {:>11.2f}x {:>10.2f}x\n", name, "guest/host", "",
                guest->first_touch_mib_s / host->first_touch_mib_s, guest->warm_touch_mib_s / host->warm_touch_mib_s);
    }
}

static int run(const Options& options)
{
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        fmt::print(stderr, "bench_memory: /dev/kvm is not usable ({}): no VM can run, nothing to compare\n", std::strerror(errno));
        return app::exit_error;
    }
    if (::access(options.vmm.c_str(), X_OK) != 0)
        throw UserError(fmt::format("cannot run the chapter 02 VMM {}: {}", options.vmm, std::strerror(errno)));
    auto layout = pc_memory_layout(parse_size(options.mem), parse_size(options.hole_start));
    if (layout.size() < 2)
        throw UserError("the guest touches the RAM above the hole: make --mem larger than --hole-start");
    std::uint64_t touch_bytes = layout[1].size;

    // Other work on the machine shows up in first-touch figures first: say how busy it was.
    std::string load_average = "?";
    if (std::ifstream loadavg("/proc/loadavg"); loadavg)
        loadavg >> load_average;

    std::vector<BackingResult> results;
    std::string kvm_line = "(no VM ran)";
    for (const std::string& name : options.backings) {
        auto backing = parse_backing(name);
        if (!backing)
            throw UserError(fmt::format("unknown backing '{}' (use 4k, thp, hugetlb-2m or hugetlb-1g)", name));
        fmt::print(stderr, "bench_memory: measuring {} ...\n", name);
        results.push_back(measure(options, *backing, touch_bytes, kvm_line));
    }

    fmt::print("\nbench_memory: guest RAM {} with the hole at {}: the guest touches {} of high RAM in ring 3\n",
        options.mem, options.hole_start, format_size(touch_bytes));
    fmt::print("VMM: {}\nKVM: {}\nhost: {} CPUs online, load average {} at the start\n", options.vmm, kvm_line,
        ::sysconf(_SC_NPROCESSORS_ONLN), load_average);
    fmt::print("median of {} run(s) per row; guest and host runs interleaved\n\n", options.repeat);
    print_table(results);
    fmt::print("\nfirst = one 8-byte store per 4 KiB page (page faults); warm = every 8-byte word (TLB reach, bandwidth).\n"
               "KernelPage is smaps' KernelPageSize; THP shows 4 kB there and proves itself in AnonHugePages.\n");

    bool any_vm_ran = std::any_of(results.begin(), results.end(),
        [](const BackingResult& result) { return std::holds_alternative<Figures>(result.guest); });
    if (!any_vm_ran)
        fmt::print(stderr, "bench_memory: no backing could run a VM\n");
    return any_vm_ran ? 0 : app::exit_error;
}

int main(int argc, char** argv)
{
    return app::run_main("bench_memory", [&] {
        Options options;
        CLI::App cli { "Chapter 02 guest memory: first-touch and warm-touch throughput per host backing, against the host itself" };
        cli.add_option("--mem", options.mem, "guest RAM size (K, M, G)")->capture_default_str();
        cli.add_option("--hole-start", options.hole_start, "where the device hole starts; RAM above it is touched")->capture_default_str();
        cli.add_option("--repeat", options.repeat, "runs per backing; the median is reported")->check(CLI::Range(1u, 100u))->capture_default_str();
        cli.add_option("--backing", options.backings, "backings to measure (repeatable)")->check(CLI::IsMember({ "4k", "thp", "hugetlb-2m", "hugetlb-1g" }))->capture_default_str();
        cli.add_option("--vmm", options.vmm, "the chapter 02 VMM binary")->capture_default_str();
        try {
            cli.parse(argc, argv);
        } catch (const CLI::ParseError& error) {
            return cli.exit(error);
        }
        return run(options);
    });
}
