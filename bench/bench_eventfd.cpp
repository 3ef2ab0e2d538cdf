// bench_eventfd — chapter 04's request queue driven three ways, side by side, next to what
// the same hand-off costs between two host threads.
//
// For each mode this runs chapter 04's VMM as a subprocess and reads its summary: exits to
// the VMM, kicks and interrupts per request, the guest-measured round trip per kick, and
// requests per second. In the same run this process measures two baselines:
//   (a) the work itself: request_queue_answer() over as many requests, on this thread;
//   (b) an eventfd ping-pong between two host threads: the round trip of the hand-off the
//       ioeventfd/irqfd modes make (guest -> device thread -> guest) without any VM.
// Figures are printed, never asserted.

#include "bench_support.hpp"

#include <request_queue_abi.h>
#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/system_error.hpp>

#include <chrono>
#include <fmt/format.h>
#include <poll.h>
#include <thread>
#include <variant>

using namespace stepvmm;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    std::string vmm = STEPVMM_CH04_EVENTFD;
    unsigned requests = 2000;
    unsigned repeat = 3;
};

struct ModeFigures {
    double exits_per_request = 0;
    double kicks_per_request = 0;
    double interrupts_per_request = 0;
    double round_trip_us = 0;
    double requests_per_second = 0;
};

struct Mode {
    std::string label;
    std::vector<std::string> arguments;
};

std::optional<ModeFigures> parse_summary(std::string_view output)
{
    ModeFigures figures;
    int found = 0;
    for (std::string_view line : bench::split_lines(output)) {
        auto take = [&](std::string_view key, double& field) {
            if (auto value = bench::number_after<double>(line, key)) {
                field = *value;
                ++found;
            }
        };
        take("user-space exits per request:", figures.exits_per_request);
        take("kicks per request:", figures.kicks_per_request);
        take("interrupts per request:", figures.interrupts_per_request);
        take("round trip per kick:", figures.round_trip_us);
        take("requests per second:", figures.requests_per_second);
    }
    return found == 5 ? std::optional(figures) : std::nullopt;
}

// One run's figures, or the VMM's one-line error.
std::variant<ModeFigures, std::string> measure_mode(const Options& options, const Mode& mode)
{
    std::vector<ModeFigures> runs;
    for (unsigned i = 0; i < options.repeat; ++i) {
        std::vector<std::string> argv { options.vmm, "--requests", std::to_string(options.requests) };
        argv.insert(argv.end(), mode.arguments.begin(), mode.arguments.end());
        auto result = bench::run_process(argv);
        if (!result.succeeded())
            return bench::failure_line(result);
        auto figures = parse_summary(result.output);
        if (!figures)
            return std::string("could not read the VMM's summary");
        runs.push_back(*figures);
    }
    auto median = [&](double ModeFigures::*field) {
        std::vector<double> values;
        for (const ModeFigures& run : runs)
            values.push_back(run.*field);
        return bench::median(values);
    };
    return ModeFigures { median(&ModeFigures::exits_per_request), median(&ModeFigures::kicks_per_request),
        median(&ModeFigures::interrupts_per_request), median(&ModeFigures::round_trip_us), median(&ModeFigures::requests_per_second) };
}

// (a) The requests' work on this thread, without any VM: requests per second.
double host_work_per_second(unsigned requests)
{
    volatile std::uint64_t sink = 0;
    auto start = Clock::now();
    for (unsigned round = 0; round < 1000; ++round)
        for (unsigned i = 0; i < requests; ++i)
            sink = sink + request_queue_answer(i);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return 1000.0 * requests / seconds;
}

void wait_readable(int fd)
{
    pollfd readable { fd, POLLIN, 0 };
    while (::poll(&readable, 1, -1) < 0 && errno == EINTR) { }
}

// (b) Kick and completion between two host threads through eventfds, as ioeventfd + irqfd
// hand a request to the device thread and back: microseconds per round trip.
double host_eventfd_round_trip_us(unsigned rounds)
{
    EventFd kick, completion;
    std::thread device([&] {
        for (unsigned i = 0; i < rounds; ++i) {
            wait_readable(kick.fd());
            kick.consume();
            completion.signal();
        }
    });
    auto start = Clock::now();
    for (unsigned i = 0; i < rounds; ++i) {
        kick.signal();
        wait_readable(completion.fd());
        completion.consume();
    }
    double microseconds = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    device.join();
    return microseconds / rounds;
}

int run(const Options& options)
{
    if (auto reason = bench::kvm_unusable_reason())
        throw UserError(*reason);
    std::vector<Mode> modes {
        { "exit (PIO)", { "--mode", "exit" } },
        { "exit (MMIO)", { "--mode", "exit", "--doorbell", "mmio" } },
        { "ioeventfd (PIO)", { "--mode", "ioeventfd" } },
        { "ioeventfd (MMIO)", { "--mode", "ioeventfd", "--doorbell", "mmio" } },
        { "batched x8", { "--mode", "batched", "--batch", "8" } },
        { "batched x32", { "--mode", "batched", "--batch", "32" } },
        { "batched x128", { "--mode", "batched", "--batch", "128" } },
    };
    fmt::print("bench_eventfd: {} requests per run, median of {}; VMM {}\nload average {} at the start\n\n", options.requests,
        options.repeat, options.vmm, bench::load_average());
    fmt::print("{:<18} {:>13} {:>10} {:>14} {:>14} {:>12}\n", "mode", "VMM exits/req", "kicks/req", "interrupts/req", "round trip us",
        "requests/s");
    fmt::print("{:-<18} {:->13} {:->10} {:->14} {:->14} {:->12}\n", "", "", "", "", "", "");
    bool any = false;
    for (const Mode& mode : modes) {
        auto figures = measure_mode(options, mode);
        if (const auto* error = std::get_if<std::string>(&figures)) {
            fmt::print("{:<18} {}\n", mode.label, *error);
            continue;
        }
        any = true;
        const auto& f = std::get<ModeFigures>(figures);
        fmt::print("{:<18} {:>13.2f} {:>10.3f} {:>14.3f} {:>14.1f} {:>12.0f}\n", mode.label, f.exits_per_request, f.kicks_per_request,
            f.interrupts_per_request, f.round_trip_us, f.requests_per_second);
    }
    fmt::print("{:<18} {:>13} {:>10} {:>14} {:>14.1f} {:>12}\n", "host eventfd pair", "-", "-", "-", host_eventfd_round_trip_us(20000), "-");
    fmt::print("{:<18} {:>13} {:>10} {:>14} {:>14} {:>12.0f}\n", "host work only", "-", "-", "-", "-", host_work_per_second(options.requests));
    fmt::print("\nround trip = guest TSC from the kick to its completion interrupt handled (per kick).\n"
               "host eventfd pair = two host threads passing a kick and a completion through eventfds: the\n"
               "  hand-off the ioeventfd modes make, without KVM or a guest.\n"
               "host work only = request_queue_answer() over the same requests on one host thread.\n");
    return any ? 0 : app::exit_error;
}

}

int main(int argc, char** argv)
{
    return app::run_main("bench_eventfd", [&] {
        Options options;
        CLI::App cli { "Chapter 04's request queue three ways, against host eventfd hand-offs", "bench_eventfd" };
        cli.add_option("--requests", options.requests, "requests per run")->check(CLI::Range(1u, 1000000u))->capture_default_str();
        cli.add_option("--repeat", options.repeat, "runs per mode (the median is printed)")->check(CLI::Range(1u, 99u))->capture_default_str();
        cli.add_option("--vmm", options.vmm, "chapter 04's VMM")->capture_default_str();
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        return run(options);
    });
}
