#include "bench_support.hpp"

#include <stepvmm/os/system_error.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <csignal>
#include <cctype>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace stepvmm::bench {

ProcessResult run_process(const std::vector<std::string>& argv)
{
    int pipe_ends[2];
    check_syscall(::pipe2(pipe_ends, O_CLOEXEC), "pipe2");
    UniqueFd read_end(pipe_ends[0]);
    std::optional<UniqueFd> write_end(UniqueFd { pipe_ends[1] });

    // One pipe for both streams keeps the error line next to what came before it, and a
    // single reader cannot deadlock on a full second pipe. dup2 clears O_CLOEXEC on 1 and 2.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_end->get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, write_end->get(), STDERR_FILENO);
    std::vector<char*> arguments;
    for (const std::string& argument : argv)
        arguments.push_back(const_cast<char*>(argument.c_str()));
    arguments.push_back(nullptr);
    pid_t pid = 0;
    int spawn_error = ::posix_spawn(&pid, arguments[0], &actions, nullptr, arguments.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawn_error != 0)
        throw SystemError(fmt::format("posix_spawn {}", argv[0]), spawn_error);
    write_end.reset(); // so read() sees end-of-file when the child exits

    ProcessResult result;
    std::array<char, 4096> buffer;
    for (;;) {
        ssize_t count = ::read(read_end.get(), buffer.data(), buffer.size());
        if (count < 0 && errno == EINTR)
            continue;
        if (count <= 0)
            break;
        result.output.append(buffer.data(), static_cast<std::size_t>(count));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            throw SystemError("waitpid", errno);
    }
    result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

std::vector<std::string_view> split_lines(std::string_view text)
{
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        std::size_t end = std::min(text.find('\n'), text.size());
        lines.push_back(text.substr(0, end));
        text.remove_prefix(std::min(end + 1, text.size()));
    }
    return lines;
}

std::string failure_line(const ProcessResult& result)
{
    auto lines = split_lines(result.output);
    auto error = std::find_if(lines.rbegin(), lines.rend(),
        [](std::string_view line) { return line.find("error:") != std::string_view::npos; });
    if (error != lines.rend())
        return std::string(*error);
    auto last = std::find_if(lines.rbegin(), lines.rend(), [](std::string_view line) { return !line.empty(); });
    if (last != lines.rend())
        return fmt::format("exit status {}: {}", result.exit_status, *last);
    return fmt::format("exit status {} without output", result.exit_status);
}

std::optional<double> number_before(std::string_view line, std::string_view key)
{
    std::size_t at = line.find(key);
    if (at == std::string_view::npos)
        return std::nullopt;
    std::string_view before = line.substr(0, at);
    while (!before.empty() && before.back() == ' ')
        before.remove_suffix(1);
    std::size_t start = before.size();
    while (start > 0 && (std::isdigit(static_cast<unsigned char>(before[start - 1])) || before[start - 1] == '.' || before[start - 1] == '-'))
        --start;
    return number_after<double>(before.substr(start), "");
}

std::string load_average()
{
    std::string first_word = "?";
    if (std::ifstream loadavg("/proc/loadavg"); loadavg)
        loadavg >> first_word;
    return first_word;
}

std::optional<std::string> kvm_unusable_reason()
{
    if (::access("/dev/kvm", R_OK | W_OK) == 0)
        return std::nullopt;
    return fmt::format("/dev/kvm is not usable ({})", std::strerror(errno));
}

std::optional<Ch02Summary> parse_ch02_summary(std::string_view output)
{
    // The lines this reads, as chapters/02-memory/main.cpp prints them:
    //   KVM: kvm_pvm: ...
    //     VM set-up (thp backing, 1G):  6.40 ms
    //     first touch of 512 MiB (ring 3, one store per 4 KiB page): 363 MiB/s
    //     warm touch  of 512 MiB (ring 3, every 8-byte word):        22534 MiB/s
    //     host evidence for high RAM (...): KernelPageSize 4 kB, resident .. kB, AnonHugePages .. kB, Hugetlb .. kB
    Ch02Summary summary;
    std::optional<double> setup, first, warm;
    std::optional<std::uint64_t> page_size;
    for (std::string_view line : split_lines(output)) {
        std::size_t indent = std::min(line.find_first_not_of(' '), line.size());
        std::string_view text = line.substr(indent);
        if (indent == 0 && text.starts_with("KVM: "))
            summary.kvm = std::string(text.substr(5));
        else if (text.starts_with("VM set-up ("))
            setup = number_after<double>(text, "):");
        else if (text.starts_with("first touch "))
            first = number_after<double>(text, "):");
        else if (text.starts_with("warm touch "))
            warm = number_after<double>(text, "):");
        else if (text.starts_with("host evidence ")) {
            page_size = number_after<std::uint64_t>(text, "KernelPageSize ");
            summary.evidence.kernel_page_size_kib = page_size.value_or(0);
            summary.evidence.resident_kib = number_after<std::uint64_t>(text, "resident ")
                .value_or(number_after<std::uint64_t>(text, "Rss ").value_or(0)); // older spelling
            summary.evidence.anon_huge_kib = number_after<std::uint64_t>(text, "AnonHugePages ").value_or(0);
            summary.evidence.hugetlb_kib = number_after<std::uint64_t>(text, " Hugetlb ").value_or(0);
        }
    }
    if (!setup || !first || !warm || !page_size)
        return std::nullopt;
    summary.setup_ms = *setup;
    summary.first_touch_mib_s = *first;
    summary.warm_touch_mib_s = *warm;
    return summary;
}

// "  disk writes:   256 sectors,   67587 disk exits = 264.01 exits/sector, 114 sectors/s"
static std::optional<Ch03Summary::DiskPhase> parse_disk_phase(std::string_view line)
{
    auto sectors = number_after<std::uint64_t>(line, ":");
    auto exits = number_after<std::uint64_t>(line, "sectors,");
    auto rate = number_before(line, "sectors/s");
    if (!sectors || !exits || !rate)
        return std::nullopt;
    return Ch03Summary::DiskPhase { *sectors, *exits, *rate };
}

std::optional<Ch03Summary> parse_ch03_summary(std::string_view output)
{
    // The lines this reads, as chapters/03-io-exits/main.cpp and common/src/stats/exit_report.cpp
    // print them:
    //   KVM: kvm_pvm: ...
    //   summary
    //     disk writes:   256 sectors,   67587 disk exits = 264.01 exits/sector, 114 sectors/s
    //     disk reads:    256 sectors,   67584 disk exits = 264.00 exits/sector, 108 sectors/s
    //     one PIO exit (out to port 0x80):          37.84 us round trip
    //     one MMIO exit (write to 0xfe000000):     40.39 us round trip
    //   exit profile
    //     time in KVM_RUN:     6156860 us   (guest + KVM, 35.07 us per exit)
    //     time in the VMM:       36190 us   (exit handling, 0.21 us per exit)
    //     vCPU thread CPU:  user 15.4%  system 49.8%  guest 34.8%  of 6.170 s CPU
    // (or "vCPU thread CPU:  no CPU time measured (under one clock tick)").
    Ch03Summary summary;
    std::optional<Ch03Summary::DiskPhase> writes, reads;
    std::optional<double> pio, mmio, in_kvm_run, in_vmm;
    bool cpu_line = false;
    bool in_summary = false;
    for (std::string_view line : split_lines(output)) {
        std::size_t indent = std::min(line.find_first_not_of(' '), line.size());
        std::string_view text = line.substr(indent);
        if (indent == 0 && text.starts_with("KVM: ") && summary.kvm.empty())
            summary.kvm = std::string(text.substr(5));
        else if (indent == 0 && text == "summary")
            in_summary = true;
        if (!in_summary)
            continue;
        if (text.starts_with("disk writes:"))
            writes = parse_disk_phase(text);
        else if (text.starts_with("disk reads:"))
            reads = parse_disk_phase(text);
        else if (text.starts_with("one PIO exit"))
            pio = number_before(text, "us round trip");
        else if (text.starts_with("one MMIO exit"))
            mmio = number_before(text, "us round trip");
        else if (text.starts_with("time in KVM_RUN:"))
            in_kvm_run = number_before(text, "us per exit");
        else if (text.starts_with("time in the VMM:"))
            in_vmm = number_before(text, "us per exit");
        else if (text.starts_with("vCPU thread CPU:")) {
            cpu_line = true;
            auto user = number_after<double>(text, " user ");
            auto system = number_after<double>(text, " system ");
            auto guest = number_after<double>(text, " guest ");
            auto seconds = number_after<double>(text, " of ");
            if (user && system && guest && seconds)
                summary.cpu = Ch03Summary::CpuSplit { *user, *system, *guest, *seconds };
        }
    }
    if (!writes || !reads || !pio || !mmio || !in_kvm_run || !in_vmm || !cpu_line)
        return std::nullopt;
    summary.writes = *writes;
    summary.reads = *reads;
    summary.pio_exit_us = *pio;
    summary.mmio_exit_us = *mmio;
    summary.kvm_run_us_per_exit = *in_kvm_run;
    summary.vmm_us_per_exit = *in_vmm;
    return summary;
}

double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    std::size_t middle = values.size() / 2;
    return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// What the signal handler must undo before the process dies, prepared in advance: a handler
// may only call async-signal-safe functions (signal-safety(7)), so no formatting in there.
// One handler serves every cleanup (a hugetlb pool to put back, a scratch file to remove).
struct PendingCleanup {
    enum class Kind { WriteValue, Unlink };
    Kind kind;
    char path[256];
    char value[24];
    std::size_t value_length;
    volatile std::sig_atomic_t armed;
};
static std::array<PendingCleanup, 4> pending_cleanups;

extern "C" void clean_up_and_reraise(int signal_number)
{
    for (PendingCleanup& cleanup : pending_cleanups) {
        if (!cleanup.armed)
            continue;
        if (cleanup.kind == PendingCleanup::Kind::Unlink) {
            ::unlink(cleanup.path);
            continue;
        }
        int fd = ::open(cleanup.path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            [[maybe_unused]] ssize_t written = ::write(fd, cleanup.value, cleanup.value_length);
            ::close(fd);
        }
    }
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
}

// Prepares a cleanup for the signal handler and installs it; returns the slot to disarm.
static int arm_cleanup(PendingCleanup::Kind kind, const std::string& path, std::string_view value)
{
    auto free_slot = std::find_if(pending_cleanups.begin(), pending_cleanups.end(), [](const PendingCleanup& cleanup) { return !cleanup.armed; });
    if (free_slot == pending_cleanups.end())
        throw UserError("too many cleanups pending at once");
    if (path.size() >= sizeof(free_slot->path) || value.size() > sizeof(free_slot->value))
        throw UserError(fmt::format("path or value too long for the signal handler: {}", path));
    free_slot->kind = kind;
    std::memcpy(free_slot->path, path.c_str(), path.size() + 1);
    std::copy(value.begin(), value.end(), free_slot->value); // value.data() may be null when empty
    free_slot->value_length = value.size();
    struct sigaction action {};
    action.sa_handler = clean_up_and_reraise;
    for (int signal_number : { SIGINT, SIGTERM, SIGHUP })
        ::sigaction(signal_number, &action, nullptr);
    free_slot->armed = 1; // last: the handler sees a complete slot or none
    return static_cast<int>(free_slot - pending_cleanups.begin());
}

static void disarm_cleanup(int& slot)
{
    if (slot >= 0)
        pending_cleanups[static_cast<std::size_t>(slot)].armed = 0;
    slot = -1;
}

static std::uint64_t read_pool_number(const std::string& path)
{
    std::ifstream file(path);
    std::uint64_t value = 0;
    if (!(file >> value))
        throw UserError(fmt::format("cannot read {}", path));
    return value;
}

// Writes @p value to a sysfs file; the error names the file and errno.
static void write_pool_number(const std::string& path, std::uint64_t value)
{
    std::string text = fmt::format("{}\n", value);
    UniqueFd file = UniqueFd::open(path, O_WRONLY);
    if (::write(file.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw SystemError(fmt::format("write {}", path), errno);
}

HugetlbReservation::HugetlbReservation(Backing backing, std::uint64_t pages)
{
    std::string pool = fmt::format("/sys/kernel/mm/hugepages/hugepages-{}kB", backing_page_size(backing) / 1024);
    m_path = pool + "/nr_hugepages";
    std::uint64_t free_pages = read_pool_number(pool + "/free_hugepages");
    if (free_pages >= pages)
        return; // someone reserved enough already: borrow them, change nothing
    std::uint64_t original = read_pool_number(m_path);
    std::uint64_t wanted = original + (pages - free_pages);

    try {
        m_cleanup_slot = arm_cleanup(PendingCleanup::Kind::WriteValue, m_path, fmt::format("{}", original));
        m_original = original;
        write_pool_number(m_path, wanted);
    } catch (const SystemError& failure) {
        restore();
        throw UserError(fmt::format("cannot reserve {} {} page(s) ({}); run as root or reserve them beforehand",
            pages, backing_name(backing), failure.what()));
    }
    std::uint64_t now_free = read_pool_number(pool + "/free_hugepages");
    if (now_free < pages) {
        restore();
        throw UserError(fmt::format("the kernel found only {} of {} free {} page(s) (host memory too fragmented?)",
            now_free, pages, backing_name(backing)));
    }
}

HugetlbReservation::~HugetlbReservation()
{
    restore();
}

void HugetlbReservation::restore() noexcept
{
    if (!m_original)
        return;
    try {
        write_pool_number(m_path, *m_original);
    } catch (const std::exception& failure) {
        fmt::print(stderr, "bench: could not restore {} to {}: {}\n", m_path, *m_original, failure.what());
    }
    disarm_cleanup(m_cleanup_slot);
    m_original.reset();
}

ScratchFile::ScratchFile(std::string path_template, int suffix_length, std::uint64_t size)
{
    int fd = check_syscall(::mkostemps(path_template.data(), suffix_length, O_CLOEXEC), fmt::format("mkostemps {}", path_template));
    UniqueFd file(fd);
    m_path = std::move(path_template);
    try {
        m_cleanup_slot = arm_cleanup(PendingCleanup::Kind::Unlink, m_path, {});
        check_syscall(::ftruncate(file.get(), static_cast<off_t>(size)), fmt::format("ftruncate {}", m_path));
    } catch (...) {
        disarm_cleanup(m_cleanup_slot);
        ::unlink(m_path.c_str());
        throw;
    }
}

ScratchFile::~ScratchFile()
{
    ::unlink(m_path.c_str());
    disarm_cleanup(m_cleanup_slot);
}

} // namespace stepvmm::bench
