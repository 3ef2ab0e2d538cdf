// bench_io_exits — what full device emulation costs per sector and per exit, next to what the
// same work costs the host without a VM.
//
// For each sectors-per-command value (1, 8, 64 by default) this runs chapter 03's VMM as a
// subprocess on a scratch disk image and reads its summary and exit profile: the guest writes
// N sectors to the register-level legacy disk with polled ATA PIO, flushes, reads them back
// (about 257 exits per sector), then times one PIO exit and one MMIO exit to devices that
// ignore them. In the same run, interleaved with the VM runs, this process
//   (a) does the same I/O on the same file through the same FileBackend the legacy disk uses
//       (one pwrite/pread per 512-byte sector, commands of the same size, fdatasync after the
//       writes): what the disk costs without a VM;
//   (b) times one trivial system call (getppid): an exit round trip against a syscall round
//       trip;
//   (c) computes the exits per sector the ATA protocol predicts (guest/ch03-io-exits/ata_pio.c)
//       to put beside the count the VMM measured.
// Figures are printed, never asserted.

#include "bench_support.hpp"

#include <ch03_io_exits_abi.h>
#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/mem/memory_layout.hpp>
#include <stepvmm/os/system_error.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <span>
#include <sys/syscall.h>
#include <unistd.h>
#include <variant>

using namespace stepvmm;
using Clock = std::chrono::steady_clock;

static constexpr std::uint64_t sector_size = 512;

struct Options {
    std::string vmm = STEPVMM_CH03_IO_EXITS;
    unsigned sectors = 256;
    unsigned repeat = 3;
    std::vector<unsigned> sectors_per_command { 1, 8, 64 };
    unsigned exit_cost_iterations = 20000;
    unsigned syscall_iterations = 1'000'000;
    std::string scratch_directory = "/tmp";
};

// The guest's figures for one sectors-per-command value: medians over the repetitions.
struct GuestFigures {
    double write_sectors_per_second = 0;
    double read_sectors_per_second = 0;
    double write_exits_per_sector = 0; // exact, from the counts (the chapter rounds to 0.01)
    double read_exits_per_sector = 0;
    double pio_exit_us = 0;
    double mmio_exit_us = 0;
    double kvm_run_us_per_exit = 0;
    double vmm_us_per_exit = 0;
    std::optional<bench::Ch03Summary::CpuSplit> cpu;
};

// The host's figures for the same work.
struct HostFigures {
    double write_sectors_per_second = 0;
    double read_sectors_per_second = 0;
    double syscall_us = 0;
};

// A row either has figures or the one line that says why not.
template<typename Figures>
using Row = std::variant<Figures, std::string>;

struct Measurement {
    unsigned sectors_per_command;
    Row<GuestFigures> guest;
    Row<HostFigures> host;
};

static std::uint64_t commands_for(std::uint64_t sectors, std::uint64_t per_command) { return (sectors + per_command - 1) / per_command; }

// (c) What the polled ATA protocol costs, per guest/ch03-io-exits/ata_pio.c: every READ/WRITE
// SECTORS command is 6 task-file writes and 1 final status read (7), every sector 1 status read
// and 256 data-word accesses (257). The write phase ends with FLUSH CACHE: DEVICE and COMMAND
// writes and 1 status read (3).
static double predicted_exits_per_sector(std::uint64_t sectors, std::uint64_t per_command, bool with_flush)
{
    double exits = 257.0 * static_cast<double>(sectors) + 7.0 * static_cast<double>(commands_for(sectors, per_command)) + (with_flush ? 3.0 : 0.0);
    return exits / static_cast<double>(sectors);
}

static double sectors_per_second(std::uint64_t sectors, Clock::duration elapsed)
{
    return static_cast<double>(sectors) / std::chrono::duration<double>(elapsed).count();
}

// (a) The guest's disk exercise (guest/ch03-io-exits/io_exits.c, exercise_disk) done by the host:
// the same pattern, the same command sizes, and the legacy disk's own I/O path underneath
// (FileBackend: one pwrite or pread per 512-byte sector, fdatasync for FLUSH CACHE).
static HostFigures host_io(const std::string& path, unsigned sectors, unsigned per_command)
{
    backends::FileBackend disk(path, backends::DiskAccess::ReadWrite);
    std::vector<std::uint8_t> buffer(per_command * sector_size);
    auto check = [](backends::IoStatus status, const char* what) {
        if (status != backends::IoStatus::Ok)
            throw UserError(fmt::format("host baseline: {} of the scratch disk failed", what));
    };

    auto start = Clock::now();
    for (std::uint32_t lba = 0; lba < sectors; lba += per_command) {
        std::uint32_t count = std::min(sectors - lba, per_command);
        for (std::uint32_t index = 0; index < count * sector_size; ++index)
            buffer[index] = CH03_PATTERN_BYTE(lba + index / sector_size, index % sector_size);
        for (std::uint32_t sector = 0; sector < count; ++sector)
            check(disk.write((lba + sector) * sector_size, std::span(buffer).subspan(sector * sector_size, sector_size)), "pwrite");
    }
    check(disk.flush(), "fdatasync");
    auto written = Clock::now();
    std::uint64_t mismatches = 0;
    for (std::uint32_t lba = 0; lba < sectors; lba += per_command) {
        std::uint32_t count = std::min(sectors - lba, per_command);
        for (std::uint32_t sector = 0; sector < count; ++sector)
            check(disk.read((lba + sector) * sector_size, std::span(buffer).subspan(sector * sector_size, sector_size)), "pread");
        for (std::uint32_t index = 0; index < count * sector_size; ++index)
            mismatches += buffer[index] != CH03_PATTERN_BYTE(lba + index / sector_size, index % sector_size);
    }
    auto read = Clock::now();
    if (mismatches != 0)
        throw UserError(fmt::format("host baseline: {} bytes read back differ from what was written", mismatches));
    return { sectors_per_second(sectors, written - start), sectors_per_second(sectors, read - written), 0 };
}

// (b) One system call that does next to nothing, round trip. syscall() rather than getppid()
// so that no C library can answer from a cache.
static double syscall_us(unsigned iterations)
{
    auto start = Clock::now();
    for (unsigned index = 0; index < iterations; ++index)
        ::syscall(SYS_getppid);
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / iterations;
}

static GuestFigures median_of(const std::vector<GuestFigures>& runs)
{
    auto median = [&](auto field) {
        std::vector<double> values;
        for (const GuestFigures& run : runs)
            values.push_back(field(run));
        return bench::median(values);
    };
    GuestFigures result;
    result.write_sectors_per_second = median([](const GuestFigures& run) { return run.write_sectors_per_second; });
    result.read_sectors_per_second = median([](const GuestFigures& run) { return run.read_sectors_per_second; });
    result.write_exits_per_sector = median([](const GuestFigures& run) { return run.write_exits_per_sector; });
    result.read_exits_per_sector = median([](const GuestFigures& run) { return run.read_exits_per_sector; });
    result.pio_exit_us = median([](const GuestFigures& run) { return run.pio_exit_us; });
    result.mmio_exit_us = median([](const GuestFigures& run) { return run.mmio_exit_us; });
    result.kvm_run_us_per_exit = median([](const GuestFigures& run) { return run.kvm_run_us_per_exit; });
    result.vmm_us_per_exit = median([](const GuestFigures& run) { return run.vmm_us_per_exit; });
    std::vector<double> user, system, guest, seconds;
    for (const GuestFigures& run : runs) {
        if (!run.cpu)
            continue;
        user.push_back(run.cpu->user_percent);
        system.push_back(run.cpu->system_percent);
        guest.push_back(run.cpu->guest_percent);
        seconds.push_back(run.cpu->seconds);
    }
    if (!user.empty())
        result.cpu = bench::Ch03Summary::CpuSplit { bench::median(user), bench::median(system), bench::median(guest), bench::median(seconds) };
    return result;
}

static HostFigures median_of(const std::vector<HostFigures>& runs)
{
    std::vector<double> writes, reads, syscalls;
    for (const HostFigures& run : runs) {
        writes.push_back(run.write_sectors_per_second);
        reads.push_back(run.read_sectors_per_second);
        syscalls.push_back(run.syscall_us);
    }
    return { bench::median(writes), bench::median(reads), bench::median(syscalls) };
}

static GuestFigures figures_from(const bench::Ch03Summary& summary)
{
    auto per_sector = [](const bench::Ch03Summary::DiskPhase& phase) {
        return phase.sectors ? static_cast<double>(phase.disk_exits) / static_cast<double>(phase.sectors) : 0.0;
    };
    return { summary.writes.sectors_per_second, summary.reads.sectors_per_second, per_sector(summary.writes), per_sector(summary.reads),
        summary.pio_exit_us, summary.mmio_exit_us, summary.kvm_run_us_per_exit, summary.vmm_us_per_exit, summary.cpu };
}

// Measures one sectors-per-command value: N VM runs and N host runs, interleaved so that both
// see the same state of the machine.
static Measurement measure(const Options& options, const std::string& disk, unsigned per_command, std::string& kvm_line)
{
    // The chapter's own limit is 120 s; a long --sectors needs more (at ~100 sectors/s on
    // kvm_pvm, both phases together take sectors/50 s).
    unsigned timeout = 120 + options.sectors / 25;
    std::vector<std::string> argv { options.vmm, "--disk", disk, "--echo-seconds", "0", "--sectors", std::to_string(options.sectors),
        "--sectors-per-command", std::to_string(per_command), "--exit-cost-iterations", std::to_string(options.exit_cost_iterations),
        "--timeout", std::to_string(timeout) };
    std::vector<GuestFigures> guest_runs;
    std::vector<HostFigures> host_runs;
    std::optional<std::string> guest_error, host_error;
    for (unsigned run = 0; run < options.repeat; ++run) {
        if (!guest_error) {
            try {
                bench::ProcessResult vmm = bench::run_process(argv);
                auto summary = bench::parse_ch03_summary(vmm.output);
                if (!vmm.succeeded())
                    guest_error = bench::failure_line(vmm);
                else if (!summary)
                    guest_error = "error: no summary or exit profile in the VMM's output";
                else {
                    guest_runs.push_back(figures_from(*summary));
                    kvm_line = summary->kvm;
                }
            } catch (const std::exception& error) {
                guest_error = fmt::format("error: {}", error.what());
            }
        }
        if (!host_error) {
            try {
                HostFigures host = host_io(disk, options.sectors, per_command);
                host.syscall_us = syscall_us(options.syscall_iterations);
                host_runs.push_back(host);
            } catch (const std::exception& error) {
                host_error = fmt::format("error: {}", error.what());
            }
        }
    }
    return { per_command, guest_error ? Row<GuestFigures>(*guest_error) : Row<GuestFigures>(median_of(guest_runs)),
        host_error ? Row<HostFigures>(*host_error) : Row<HostFigures>(median_of(host_runs)) };
}

// A ratio with two significant digits however small it is: 0.42x, 0.0011x, 425x.
static std::string format_ratio(double ratio)
{
    if (!std::isfinite(ratio) || ratio <= 0)
        return "-";
    int decimals = std::clamp(1 - static_cast<int>(std::floor(std::log10(ratio))), 0, 9);
    return fmt::format("{:.{}f}x", ratio, decimals);
}

// One line of the table, without the trailing blanks of its empty cells.
template<typename... Cells>
static void print_row(const Cells&... cells)
{
    std::string line = fmt::format("{:>8}  {:<13} {:>10} {:>10} {:>17} {:>9} {:>9} {:>15} {:>15}", cells...);
    line.erase(line.find_last_not_of(' ') + 1);
    fmt::print("{}\n", line);
}

static void print_table(const std::vector<Measurement>& results, unsigned sectors)
{
    print_row("sectors/", "run", "write", "read", "exits/sector", "µs per", "µs per", "µs per exit", "vCPU thread CPU");
    print_row("command", "", "sectors/s", "sectors/s", "writes / reads", "PIO exit", "MMIO exit", "KVM_RUN / VMM", "user/sys/guest");
    print_row("--------", "-------------", "----------", "----------", "-----------------", "---------", "---------",
        "---------------", "---------------");
    for (const Measurement& result : results) {
        unsigned per_command = result.sectors_per_command;
        const auto* guest = std::get_if<GuestFigures>(&result.guest);
        const auto* host = std::get_if<HostFigures>(&result.host);
        if (guest) {
            std::string cpu = guest->cpu ? fmt::format("{:.0f}/{:.0f}/{:.0f} %", guest->cpu->user_percent, guest->cpu->system_percent,
                                               guest->cpu->guest_percent)
                                         : std::string("< 1 tick");
            print_row(per_command, "guest", fmt::format("{:.0f}", guest->write_sectors_per_second),
                fmt::format("{:.0f}", guest->read_sectors_per_second),
                fmt::format("{:.2f} / {:.2f}", guest->write_exits_per_sector, guest->read_exits_per_sector),
                fmt::format("{:.2f}", guest->pio_exit_us), fmt::format("{:.2f}", guest->mmio_exit_us),
                fmt::format("{:.2f} / {:.2f}", guest->kvm_run_us_per_exit, guest->vmm_us_per_exit), cpu);
        } else {
            fmt::print("{:>8}  {:<13} {}\n", per_command, "guest", std::get<std::string>(result.guest));
        }
        if (host) {
            std::string syscall = fmt::format("{:.3f}", host->syscall_us);
            print_row(per_command, "host (no VM)", fmt::format("{:.0f}", host->write_sectors_per_second),
                fmt::format("{:.0f}", host->read_sectors_per_second), "-", syscall, syscall, "", "");
        } else {
            fmt::print("{:>8}  {:<13} {}\n", per_command, "host (no VM)", std::get<std::string>(result.host));
        }
        print_row(per_command, "ATA protocol", "", "",
            fmt::format("{:.2f} / {:.2f}", predicted_exits_per_sector(sectors, per_command, true),
                predicted_exits_per_sector(sectors, per_command, false)),
            "", "", "", "");
        if (guest && host)
            print_row(per_command, "guest/host", format_ratio(guest->write_sectors_per_second / host->write_sectors_per_second),
                format_ratio(guest->read_sectors_per_second / host->read_sectors_per_second), "",
                format_ratio(guest->pio_exit_us / host->syscall_us), format_ratio(guest->mmio_exit_us / host->syscall_us), "", "");
    }
}

// A measured exit count that differs from the protocol's is a finding (a guest or device that
// polls more, or a miscount), worth a line under the table.
static void print_protocol_notes(const std::vector<Measurement>& results, unsigned sectors)
{
    for (const Measurement& result : results) {
        const auto* guest = std::get_if<GuestFigures>(&result.guest);
        if (!guest)
            continue;
        double write_predicted = predicted_exits_per_sector(sectors, result.sectors_per_command, true);
        double read_predicted = predicted_exits_per_sector(sectors, result.sectors_per_command, false);
        // The count is exact: anything beyond floating-point noise is a real difference.
        if (std::abs(guest->write_exits_per_sector - write_predicted) > 1e-9 || std::abs(guest->read_exits_per_sector - read_predicted) > 1e-9)
            fmt::print("note: {} sectors/command: {:.4f} / {:.4f} exits per sector measured, {:.4f} / {:.4f} predicted by the protocol\n",
                result.sectors_per_command, guest->write_exits_per_sector, guest->read_exits_per_sector, write_predicted, read_predicted);
    }
}

static int run(const Options& options)
{
    if (auto reason = bench::kvm_unusable_reason()) {
        fmt::print(stderr, "bench_io_exits: {}: no VM can run, nothing to compare\n", *reason);
        return app::exit_error;
    }
    if (::access(options.vmm.c_str(), X_OK) != 0)
        throw UserError(fmt::format("cannot run the chapter 03 VMM {}: {}", options.vmm, std::strerror(errno)));
    std::string load_average = bench::load_average();

    // 4 MiB, or more if the guest writes more; sparse, so it costs nothing until written.
    std::uint64_t disk_size = std::max<std::uint64_t>(4ULL << 20, std::uint64_t { options.sectors } * sector_size);
    bench::ScratchFile disk(options.scratch_directory + "/bench_io_exits-XXXXXX.img", 4, disk_size);

    std::vector<Measurement> results;
    std::string kvm_line = "(no VM ran)";
    for (unsigned per_command : options.sectors_per_command) {
        fmt::print(stderr, "bench_io_exits: measuring {} sector(s) per command ...\n", per_command);
        results.push_back(measure(options, disk.path(), per_command, kvm_line));
    }

    fmt::print("\nbench_io_exits: chapter 03's guest writes {} sectors to its legacy ATA disk (polled PIO, from ring 3), flushes,\n"
               "reads them back, then times {} PIO and {} MMIO exits to devices that ignore them\n",
        options.sectors, options.exit_cost_iterations, options.exit_cost_iterations);
    fmt::print("VMM: {}\nKVM: {}\n", options.vmm, kvm_line);
    fmt::print("disk: {} ({} scratch file, removed at the end); the host baseline does the same I/O on it\n", disk.path(), format_size(disk_size));
    fmt::print("host: {} CPUs online, load average {} at the start\n", ::sysconf(_SC_NPROCESSORS_ONLN), load_average);
    fmt::print("median of {} run(s) per row; guest and host runs interleaved\n\n", options.repeat);
    print_table(results, options.sectors);
    fmt::print("\nguest        = chapter 03's VM, figures from its summary and exit profile.\n"
               "host (no VM) = this process: the same pattern through the legacy disk's FileBackend (one pwrite/pread per\n"
               "               512-byte sector, commands of the same size, fdatasync after the writes); in the µs columns,\n"
               "               one getppid() system call round trip (mean of {}).\n"
               "ATA protocol = exits per sector the polled protocol needs: 257 per sector + 7 per command (+ 3 for the FLUSH\n"
               "               CACHE that ends the writes), from guest/ch03-io-exits/ata_pio.c.\n"
               "guest/host   = guest figure / host figure: below 1x the guest moves fewer sectors per second; in the µs\n"
               "               columns, how many system calls one exit costs.\n",
        options.syscall_iterations);
    print_protocol_notes(results, options.sectors);

    bool any_vm_ran = std::any_of(results.begin(), results.end(),
        [](const Measurement& result) { return std::holds_alternative<GuestFigures>(result.guest); });
    if (!any_vm_ran)
        fmt::print(stderr, "bench_io_exits: no VM run produced figures\n");
    return any_vm_ran ? 0 : app::exit_error;
}

int main(int argc, char** argv)
{
    return app::run_main("bench_io_exits", [&] {
        Options options;
        CLI::App cli { "Chapter 03 I/O exits: sectors/s and exits per sector of a register-level disk, and the cost of one exit, "
                       "against the host doing the same I/O and one system call",
            "bench_io_exits" };
        cli.add_option("--sectors", options.sectors, "sectors the guest writes and reads back per run")->check(CLI::Range(1u, 1u << 20))->capture_default_str();
        cli.add_option("--sectors-per-command", options.sectors_per_command, "sectors per ATA command to measure (repeatable)")
            ->check(CLI::Range(1u, 64u))
            ->capture_default_str();
        cli.add_option("--repeat", options.repeat, "runs per row; the median is reported")->check(CLI::Range(1u, 100u))->capture_default_str();
        cli.add_option("--exit-cost-iterations", options.exit_cost_iterations, "exits the guest times for one PIO / one MMIO exit")
            ->check(CLI::Range(1u, 10'000'000u))
            ->capture_default_str();
        cli.add_option("--syscall-iterations", options.syscall_iterations, "system calls timed for the host baseline")
            ->check(CLI::Range(1u, 1'000'000'000u))
            ->capture_default_str();
        cli.add_option("--scratch-dir", options.scratch_directory, "where the scratch disk image is made (and removed)")->capture_default_str();
        cli.add_option("--vmm", options.vmm, "the chapter 03 VMM binary")->capture_default_str();
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        return run(options);
    });
}
