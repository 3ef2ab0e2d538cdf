#include "bench_support.hpp"

#include <stepvmm/os/system_error.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <csignal>
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

static std::vector<std::string_view> split_lines(std::string_view text)
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

// The number that follows @p key in @p line ("Rss 524288 kB" -> 524288), if any.
template<typename Number>
static std::optional<Number> number_after(std::string_view line, std::string_view key)
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

double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    std::size_t middle = values.size() / 2;
    return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// What the signal handler needs to put a pool back, prepared before it can run: a handler may
// only call async-signal-safe functions (signal-safety(7)), so no formatting in there.
struct PendingRestore {
    char path[128];
    char value[24];
    std::size_t value_length;
    volatile std::sig_atomic_t armed;
};
static PendingRestore pending_restore;

extern "C" void restore_pool_and_reraise(int signal_number)
{
    if (pending_restore.armed) {
        int fd = ::open(pending_restore.path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            [[maybe_unused]] ssize_t written = ::write(fd, pending_restore.value, pending_restore.value_length);
            ::close(fd);
        }
    }
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
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

    if (m_path.size() >= sizeof(pending_restore.path))
        throw UserError(fmt::format("path too long: {}", m_path));
    std::memcpy(pending_restore.path, m_path.c_str(), m_path.size() + 1);
    auto [end, error] = std::to_chars(pending_restore.value, pending_restore.value + sizeof(pending_restore.value), original);
    pending_restore.value_length = static_cast<std::size_t>(end - pending_restore.value);
    struct sigaction action {};
    action.sa_handler = restore_pool_and_reraise;
    for (int signal_number : { SIGINT, SIGTERM, SIGHUP })
        ::sigaction(signal_number, &action, nullptr);

    try {
        m_original = original;
        pending_restore.armed = 1;
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
    pending_restore.armed = 0;
    m_original.reset();
}

} // namespace stepvmm::bench
