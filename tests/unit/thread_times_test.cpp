// stats::parse_thread_stat against crafted /proc/PID/task/TID/stat lines, current_thread_times()
// against real CPU burnt by real threads, and the exit profile chapters print
// (stats::format_split, stats::format_exit_report) for hand-made runs.

#include <stepvmm/devices/null_device.hpp>
#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/io/bus.hpp>
#include <stepvmm/stats/exit_report.hpp>
#include <stepvmm/stats/thread_times.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <ctime>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace stepvmm;
using namespace std::chrono_literals;

namespace {

// proc(5) numbers the fields of /proc/PID/task/TID/stat from 1: pid, (comm), state, ... utime
// is 14, stime 15, guest_time 43; a kernel of today prints 52. Every field not given in
// @p overrides holds 1000 + its number, so a parser that lands on the wrong field reads a
// value that gives it away.
std::string stat_line(const std::string& comm, const std::map<int, std::string>& overrides, int last_field = 52)
{
    std::string line = "4242 (" + comm + ")";
    for (int field = 3; field <= last_field; ++field) {
        auto found = overrides.find(field);
        std::string value = found != overrides.end() ? found->second : field == 3 ? "R" : std::to_string(1000 + field);
        line += " " + value;
    }
    return line + "\n";
}

constexpr int utime = 14, stime = 15, guest_time = 43;

// The calling thread's CPU time from the clock the kernel keeps for it (clock_gettime(2)),
// independent of the /proc parsing under test.
std::chrono::nanoseconds thread_cpu_time()
{
    timespec now {};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

// Keeps this thread on the CPU (in user mode) for @p amount of its own CPU time.
void burn_cpu(std::chrono::nanoseconds amount)
{
    volatile std::uint64_t sink = 0;
    auto until = thread_cpu_time() + amount;
    while (thread_cpu_time() < until) {
        for (int index = 0; index < 10000; ++index)
            sink = sink + static_cast<std::uint64_t>(index);
    }
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);)
        lines.push_back(line);
    return lines;
}

std::vector<std::string> words_of(const std::string& line)
{
    std::vector<std::string> words;
    std::istringstream stream(line);
    for (std::string word; stream >> word;)
        words.push_back(word);
    return words;
}

// The report line for @p device on @p bus, as words: {bus, device, "reads", n, "writes", m}.
std::vector<std::string> device_line(const std::string& report, const std::string& bus, const std::string& device)
{
    for (const std::string& line : lines_of(report)) {
        auto words = words_of(line);
        if (words.size() >= 2 && words[0] == bus && words[1] == device)
            return words;
    }
    return {};
}

std::string line_starting(const std::string& report, const std::string& start)
{
    for (const std::string& line : lines_of(report)) {
        auto first = line.find_first_not_of(' ');
        if (first != std::string::npos && line.compare(first, start.size(), start) == 0)
            return line;
    }
    return {};
}

} // namespace

TEST_CASE("parse_thread_stat finds the fields after a command name with spaces and parentheses", "[stats]")
{
    auto line = stat_line("my (weird) vmm", { { utime, "250" }, { stime, "80" }, { guest_time, "0" } });
    auto times = stats::parse_thread_stat(line, 100);
    REQUIRE(times);
    CHECK(times->user == Approx(2.5));
    CHECK(times->system == Approx(0.8));
    CHECK(times->guest == 0);
}

TEST_CASE("parse_thread_stat takes guest time out of utime, where the kernel counts it too", "[stats]")
{
    auto line = stat_line("ch03_io_exits", { { utime, "700" }, { stime, "150" }, { guest_time, "400" } });
    auto times = stats::parse_thread_stat(line, 100);
    REQUIRE(times);
    CHECK(times->user == Approx(3.0)); // (700 - 400) ticks
    CHECK(times->system == Approx(1.5));
    CHECK(times->guest == Approx(4.0));
    CHECK(times->total() == Approx(8.5)); // utime + stime: guest time is not counted twice

    SECTION("ticks are converted with the rate given")
    {
        auto at_250_hz = stats::parse_thread_stat(line, 250);
        REQUIRE(at_250_hz);
        CHECK(at_250_hz->user == Approx(1.2));
        CHECK(at_250_hz->system == Approx(0.6));
        CHECK(at_250_hz->guest == Approx(1.6));
    }
}

TEST_CASE("parse_thread_stat needs fields only up to guest_time", "[stats]")
{
    auto ends_at_guest_time = stat_line("vcpu", { { utime, "30" }, { stime, "20" }, { guest_time, "10" } }, guest_time);
    auto times = stats::parse_thread_stat(ends_at_guest_time, 100);
    REQUIRE(times);
    CHECK(times->user == Approx(0.2));
    CHECK(times->guest == Approx(0.1));
}

TEST_CASE("parse_thread_stat refuses malformed lines", "[stats]")
{
    auto good = stat_line("vcpu", { { utime, "30" }, { stime, "20" }, { guest_time, "10" } });
    REQUIRE(stats::parse_thread_stat(good, 100)); // so the failures below are the changes' doing

    SECTION("no closing parenthesis")
    {
        std::string line = good;
        line.erase(line.find(')'), 1);
        CHECK_FALSE(stats::parse_thread_stat(line, 100));
    }
    SECTION("empty")
    {
        CHECK_FALSE(stats::parse_thread_stat("", 100));
    }
    SECTION("too few fields: the line stops one short of guest_time")
    {
        CHECK_FALSE(stats::parse_thread_stat(stat_line("vcpu", { { utime, "30" } }, guest_time - 1), 100));
    }
    SECTION("too few fields: nothing after the command name")
    {
        CHECK_FALSE(stats::parse_thread_stat("4242 (vcpu)\n", 100));
    }
    SECTION("non-numeric utime")
    {
        CHECK_FALSE(stats::parse_thread_stat(stat_line("vcpu", { { utime, "lots" } }), 100));
    }
    SECTION("non-numeric stime")
    {
        CHECK_FALSE(stats::parse_thread_stat(stat_line("vcpu", { { stime, "?" } }), 100));
    }
    SECTION("non-numeric guest_time")
    {
        CHECK_FALSE(stats::parse_thread_stat(stat_line("vcpu", { { guest_time, "n/a" } }), 100));
    }
    SECTION("numbers that are not tick counts")
    {
        for (const char* bad : { "12abc", "1e3", "nan", "-5" })
            CHECK_FALSE(stats::parse_thread_stat(stat_line("vcpu", { { utime, bad } }), 100));
    }
}

TEST_CASE("parse_thread_stat refuses a tick rate that is not positive", "[stats]")
{
    auto line = stat_line("vcpu", { { utime, "30" }, { stime, "20" }, { guest_time, "10" } });
    CHECK_FALSE(stats::parse_thread_stat(line, 0));
    CHECK_FALSE(stats::parse_thread_stat(line, -100));
}

TEST_CASE("current_thread_times grows while the thread burns CPU, and guest time stays 0 outside a VM", "[stats]")
{
    auto before = stats::current_thread_times();
    burn_cpu(100ms);
    auto after = stats::current_thread_times();
    auto grown = after - before;
    // Times come in clock ticks (10 ms at the usual USER_HZ of 100): 100 ms of CPU shows as at
    // least 50 ms however the ticks fall.
    CHECK(grown.total() >= 0.05);
    CHECK(grown.user + grown.system >= 0.05);
    CHECK(grown.total() < 10); // seconds, not ticks or nanoseconds
    CHECK(before.guest == 0);
    CHECK(after.guest == 0);
}

TEST_CASE("current_thread_times is the calling thread's, not the process's", "[stats]")
{
    auto before = stats::current_thread_times();
    stats::ThreadTimes worker_grown;
    std::thread worker([&] {
        auto worker_before = stats::current_thread_times();
        burn_cpu(150ms);
        worker_grown = stats::current_thread_times() - worker_before;
    });
    worker.join(); // this thread sleeps meanwhile
    auto grown = stats::current_thread_times() - before;
    CHECK(worker_grown.total() >= 0.1);
    CHECK(grown.total() < 0.05);
}

TEST_CASE("format_split gives each share of the CPU time and the total", "[stats]")
{
    auto text = stats::format_split({ 1.0, 2.0, 1.0 });
    CHECK_THAT(text, Catch::Contains("user 25.0%"));
    CHECK_THAT(text, Catch::Contains("system 50.0%"));
    CHECK_THAT(text, Catch::Contains("guest 25.0%"));
    CHECK_THAT(text, Catch::Contains("4.000 s"));

    auto guest_heavy = stats::format_split({ 0.1, 0.15, 0.75 });
    CHECK_THAT(guest_heavy, Catch::Contains("user 10.0%"));
    CHECK_THAT(guest_heavy, Catch::Contains("system 15.0%"));
    CHECK_THAT(guest_heavy, Catch::Contains("guest 75.0%"));
    CHECK_THAT(guest_heavy, Catch::Contains("1.000 s"));
}

TEST_CASE("format_split says so when no CPU time was measured", "[stats]")
{
    auto text = stats::format_split({});
    CHECK_THAT(text, Catch::Contains("no CPU time measured"));
    CHECK_THAT(text, !Catch::Contains("%")); // no division by zero dressed up as a share
}

TEST_CASE("format_exit_report names every device with its accesses, the unclaimed ones, and the time per exit", "[stats]")
{
    // Devices that read as zero and forget writes: all the report needs is their names.
    devices::NullDevice tiny("tiny"), other("other"), window("window");
    io::Bus pio("PIO"), mmio("MMIO");
    pio.add(0x10, 4, tiny);
    pio.add(0x20, 4, other);
    mmio.add(0xfe000000, 0x1000, window);

    std::array<std::uint8_t, 4> data {};
    auto one_byte = std::span(data).first(1);
    for (int index = 0; index < 2; ++index)
        pio.access(AccessDirection::Read, 0x10, one_byte);
    for (int index = 0; index < 3; ++index)
        pio.access(AccessDirection::Write, 0x11, one_byte);
    pio.access(AccessDirection::Write, 0x23, one_byte);
    pio.access(AccessDirection::Read, 0x80, one_byte); // nobody decodes 0x80
    for (int index = 0; index < 4; ++index)
        mmio.access(AccessDirection::Write, 0xfe000004, std::span(data));
    mmio.access(AccessDirection::Read, 0xfe001000, std::span(data)); // just past the window

    // The exits that carried those accesses, and one HLT: 7 + 5 + 1 = 13.
    guest::RunOutcome outcome;
    for (int index = 0; index < 7; ++index)
        outcome.exits.count(IoExit { AccessDirection::Write, 0x10, 1, 1, one_byte });
    for (int index = 0; index < 5; ++index)
        outcome.exits.count(MmioExit { AccessDirection::Write, 0xfe000004, std::span(data) });
    outcome.exits.count(HaltExit {});
    outcome.in_kvm_run = 6500us; // 500 us per exit
    outcome.handling = 1300us;   // 100 us per exit
    outcome.elapsed = 7800us;

    auto report = stats::format_exit_report(outcome, { &pio, &mmio }, { 1.0, 2.0, 1.0 });
    INFO(report);

    CHECK_THAT(line_starting(report, "exits by reason:"), Catch::Contains("KVM_EXIT_IO=7") && Catch::Contains("KVM_EXIT_MMIO=5")
            && Catch::Contains("KVM_EXIT_HLT=1") && Catch::Contains("total 13"));
    CHECK(device_line(report, "PIO", "tiny") == std::vector<std::string> { "PIO", "tiny", "reads", "2", "writes", "3" });
    CHECK(device_line(report, "PIO", "other") == std::vector<std::string> { "PIO", "other", "reads", "0", "writes", "1" });
    CHECK(device_line(report, "PIO", "(unclaimed)") == std::vector<std::string> { "PIO", "(unclaimed)", "reads", "1", "writes", "0" });
    CHECK(device_line(report, "MMIO", "window") == std::vector<std::string> { "MMIO", "window", "reads", "0", "writes", "4" });
    CHECK(device_line(report, "MMIO", "(unclaimed)") == std::vector<std::string> { "MMIO", "(unclaimed)", "reads", "1", "writes", "0" });
    // A device is listed on its own bus only.
    CHECK(device_line(report, "MMIO", "tiny").empty());
    CHECK(device_line(report, "PIO", "window").empty());

    auto in_kvm_run = line_starting(report, "time in KVM_RUN:");
    CHECK_THAT(in_kvm_run, Catch::Contains("6500 us") && Catch::Contains("500.00 us per exit"));
    auto in_vmm = line_starting(report, "time in the VMM:");
    CHECK_THAT(in_vmm, Catch::Contains("1300 us") && Catch::Contains("100.00 us per exit"));
    CHECK_THAT(line_starting(report, "vCPU thread CPU:"), Catch::Contains(stats::format_split({ 1.0, 2.0, 1.0 })));
}

TEST_CASE("format_exit_report of a run without exits divides by nothing", "[stats]")
{
    io::Bus pio("PIO");
    guest::RunOutcome outcome;
    outcome.in_kvm_run = 40us;
    auto report = stats::format_exit_report(outcome, { &pio }, {});
    INFO(report);
    CHECK(device_line(report, "PIO", "(unclaimed)") == std::vector<std::string> { "PIO", "(unclaimed)", "reads", "0", "writes", "0" });
    CHECK_THAT(line_starting(report, "time in KVM_RUN:"), Catch::Contains("40.00 us per exit")); // per one, not per zero
    CHECK_THAT(report, !Catch::Contains("inf") && !Catch::Contains("nan"));
    CHECK_THAT(line_starting(report, "vCPU thread CPU:"), Catch::Contains("no CPU time measured"));
}
