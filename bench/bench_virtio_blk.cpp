// bench_virtio_blk — the same disk three ways, in one run: chapter 03's register-level legacy
// disk (an exit per register access), chapter 06's virtio-blk over virtio-mmio and over
// virtio-pci with MSI-X (requests in a shared ring, an ioeventfd kick, an irqfd completion),
// QEMU's virtio-blk-pci running the identical guest image (through its PVH entry), and the
// host doing the same 4 KiB reads and writes on the same kind of file without a VM.
//
// For virtio it reports two things the chapter prints: user-space exits per request while the
// guest's ring-0 driver writes, flushes and reads back a pattern (one interrupt per request),
// and requests/s and MB/s for sequential and random 4 KiB reads and writes from the guest's
// ring-3 polling phase (several requests per kick, no interrupts). Each VM figure is the median
// of --repeat runs. Figures are printed, never asserted.

#include "bench_support.hpp"

#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/os/system_error.hpp>

#include <chrono>
#include <fmt/format.h>
#include <filesystem>
#include <map>
#include <random>
#include <regex>
#include <variant>

using namespace stepvmm;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string ch03 = STEPVMM_CH03_IO_EXITS;
    std::string ch06 = STEPVMM_CH06_VIRTIO_BLK;
    unsigned requests = 4000;
    unsigned queue_depth = 16;
    unsigned repeat = 3;
    std::string scratch_directory = "/tmp";
    std::string qemu = "/usr/bin/qemu-system-x86_64";
    std::string guest = STEPVMM_CH06_GUEST;
};

static const std::vector<std::string> phases { "seq_write", "seq_read", "rand_read", "rand_write" };

struct VirtioFigures {
    double exits_per_request = 0; // ring-0 pattern phase, one interrupt per request
    double exits_per_sector = 0;
    std::map<std::string, double> requests_per_second;
};

static std::optional<double> capture(const std::string& output, const std::string& pattern)
{
    std::smatch match;
    if (!std::regex_search(output, match, std::regex(pattern)))
        return std::nullopt;
    return std::stod(match[1].str());
}

static std::variant<VirtioFigures, std::string> run_virtio(const Options& options, const std::string& transport)
{
    std::vector<VirtioFigures> runs;
    for (unsigned run = 0; run < options.repeat; ++run) {
        bench::ScratchFile disk(options.scratch_directory + "/bench-virtio-XXXXXX.img", 4, 64ULL << 20);
        auto result = bench::run_process({ options.ch06, "--disk", disk.path(), "--transport", transport, "--bench-requests",
            std::to_string(options.requests), "--queue-depth", std::to_string(options.queue_depth) });
        if (!result.succeeded())
            return bench::failure_line(result);
        VirtioFigures figures;
        auto per_request = capture(result.output, R"(user-space exits: \d+ for \d+ requests \(([0-9.]+) per request)");
        auto per_sector = capture(result.output, R"(per request, ([0-9.]+) per sector\))");
        if (!per_request || !per_sector)
            return "the chapter's summary has no exit counts";
        figures.exits_per_request = *per_request;
        figures.exits_per_sector = *per_sector;
        for (const std::string& phase : phases) {
            auto rate = capture(result.output, phase + R"(\s+([0-9.]+) requests/s)");
            if (!rate)
                return fmt::format("the chapter's summary has no {} figure", phase);
            figures.requests_per_second[phase] = *rate;
        }
        runs.push_back(figures);
    }
    VirtioFigures median;
    auto collect = [&](auto field) {
        std::vector<double> values;
        for (const VirtioFigures& figures : runs)
            values.push_back(field(figures));
        return bench::median(values);
    };
    median.exits_per_request = collect([](const VirtioFigures& f) { return f.exits_per_request; });
    median.exits_per_sector = collect([](const VirtioFigures& f) { return f.exits_per_sector; });
    for (const std::string& phase : phases)
        median.requests_per_second[phase] = collect([&](const VirtioFigures& f) { return f.requests_per_second.at(phase); });
    return median;
}

// QEMU's virtio-blk-pci running the identical guest image, started through its PVH entry. On
// a kvm_pvm host QEMU cannot use KVM (SeaBIOS does not get going under kvm_pvm's emulator), so
// this is TCG: QEMU translates the guest's code, and its device model serves the same rings.
// The guest prints its reports on the serial port: "ucall report <value> <name>".
static std::variant<VirtioFigures, std::string> run_qemu(const Options& options)
{
    if (!std::filesystem::exists(options.qemu))
        return fmt::format("{} is not installed (qemu-system-x86)", options.qemu);
    std::vector<VirtioFigures> runs;
    for (unsigned run = 0; run < options.repeat; ++run) {
        bench::ScratchFile disk(options.scratch_directory + "/bench-qemu-XXXXXX.img", 4, 64ULL << 20);
        auto result = bench::run_process({ options.qemu, "-M", "q35", "-m", "256M", "-nographic", "-no-reboot", "-nodefaults", "-serial",
            "stdio", "-kernel", options.guest, "-drive", "file=" + disk.path() + ",if=none,id=d0,format=raw", "-device",
            "virtio-blk-pci,drive=d0,disable-legacy=on", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04" });
        if (result.exit_status != 1) // isa-debug-exit: DONE 0 is status 1
            return bench::failure_line(result);
        auto report = [&](const std::string& name) { return capture(result.output, R"(ucall report (\d+) )" + name); };
        auto tsc_khz = report("tsc_khz"), requests = report("bench_requests");
        if (!tsc_khz || !requests || *tsc_khz == 0)
            return "the guest's reports are missing from QEMU's serial output";
        VirtioFigures figures;
        for (const std::string& phase : phases) {
            auto tsc = report(phase + "_tsc");
            if (!tsc)
                return fmt::format("no {} report", phase);
            figures.requests_per_second[phase] = *requests / (*tsc / *tsc_khz / 1000);
        }
        runs.push_back(figures);
    }
    VirtioFigures median;
    for (const std::string& phase : phases) {
        std::vector<double> values;
        for (const VirtioFigures& figures : runs)
            values.push_back(figures.requests_per_second.at(phase));
        median.requests_per_second[phase] = bench::median(values);
    }
    return median;
}

// The host baseline: the guest's measured phases done by this process with the FileBackend the
// device uses, one 4 KiB pread/pwrite per request, on a file of the same size.
static std::map<std::string, double> host_baseline(const Options& options)
{
    bench::ScratchFile file(options.scratch_directory + "/bench-virtio-host-XXXXXX.img", 4, 64ULL << 20);
    backends::FileBackend disk(file.path(), backends::DiskAccess::ReadWrite);
    std::vector<std::uint8_t> block(4096, 0x5a);
    std::uint64_t blocks = disk.size() / 4096 - 64;
    std::map<std::string, double> rates;
    for (const std::string& phase : phases) {
        std::mt19937_64 random(1);
        bool write = phase.ends_with("write"), sequential = phase.starts_with("seq");
        auto start = Clock::now();
        for (unsigned index = 0; index < options.requests; ++index) {
            std::uint64_t offset = (64 + (sequential ? index % blocks : random() % blocks)) * 4096;
            auto status = write ? disk.write(offset, block) : disk.read(offset, block);
            if (status != backends::IoStatus::Ok)
                throw UserError("host baseline: I/O on the scratch file failed");
        }
        rates[phase] = options.requests / std::chrono::duration<double>(Clock::now() - start).count();
    }
    return rates;
}

static int run(const Options& options)
{
    if (auto reason = bench::kvm_unusable_reason()) {
        fmt::print(stderr, "bench_virtio_blk: {}\n", *reason);
        return 1;
    }
    fmt::print("bench_virtio_blk: {} runs each, {} requests of 4 KiB per phase, {} per kick; load average {}\n", options.repeat,
        options.requests, options.queue_depth, bench::load_average());

    // Chapter 03's legacy disk: exits per sector for the same pattern work.
    bench::ScratchFile legacy_disk(options.scratch_directory + "/bench-legacy-XXXXXX.img", 4, 1ULL << 20);
    auto legacy = bench::run_process({ options.ch03, "--disk", legacy_disk.path(), "--sectors", "256", "--sectors-per-command", "8",
        "--echo-seconds", "0", "--exit-cost-iterations", "100" });
    std::optional<bench::Ch03Summary> legacy_summary = legacy.succeeded() ? bench::parse_ch03_summary(legacy.output) : std::nullopt;
    auto mmio = run_virtio(options, "mmio");
    auto pci = run_virtio(options, "pci");
    auto qemu = run_qemu(options);
    auto host = host_baseline(options);

    fmt::print("\nuser-space exits to move the guest's pattern (256 sectors written, flushed, read back; 8 per request)\n");
    if (legacy_summary) {
        double sectors = static_cast<double>(legacy_summary->writes.sectors + legacy_summary->reads.sectors);
        fmt::print("  {:<28} {:10.1f} per sector  ({:.0f} sectors/s written)\n", "legacy disk (chapter 03)",
            static_cast<double>(legacy_summary->writes.disk_exits + legacy_summary->reads.disk_exits) / sectors,
            legacy_summary->writes.sectors_per_second);
    } else {
        fmt::print("  {:<28} not measured: {}\n", "legacy disk (chapter 03)", bench::failure_line(legacy));
    }
    for (const auto& [name, figures] : { std::pair { "virtio-blk over virtio-mmio", &mmio }, std::pair { "virtio-blk over virtio-pci", &pci } }) {
        if (auto* measured = std::get_if<VirtioFigures>(figures))
            fmt::print("  {:<28} {:10.3f} per sector  ({:.2f} per request)\n", name, measured->exits_per_sector, measured->exits_per_request);
        else
            fmt::print("  {:<28} not measured: {}\n", name, std::get<std::string>(*figures));
    }

    fmt::print("\n4 KiB requests per second (guest: ring 3, polled, {} per kick; host: one pread/pwrite each)\n", options.queue_depth);
    fmt::print("  {:<11} {:>14} {:>14} {:>14} {:>14}\n", "phase", "virtio-mmio", "virtio-pci", "QEMU (TCG)", "host, no VM");
    for (const std::string& phase : phases) {
        auto cell = [&](const std::variant<VirtioFigures, std::string>& figures) {
            return std::holds_alternative<VirtioFigures>(figures) ? fmt::format("{:.0f}", std::get<VirtioFigures>(figures).requests_per_second.at(phase)) : "-";
        };
        fmt::print("  {:<11} {:>14} {:>14} {:>14} {:>14.0f}\n", phase, cell(mmio), cell(pci), cell(qemu), host.at(phase));
    }
    fmt::print("\nthe same in MB/s (4 KiB per request)\n");
    fmt::print("  {:<11} {:>14} {:>14} {:>14} {:>14}\n", "phase", "virtio-mmio", "virtio-pci", "QEMU (TCG)", "host, no VM");
    for (const std::string& phase : phases) {
        auto cell = [&](const std::variant<VirtioFigures, std::string>& figures) {
            return std::holds_alternative<VirtioFigures>(figures)
                ? fmt::format("{:.1f}", std::get<VirtioFigures>(figures).requests_per_second.at(phase) * 4096 / 1e6)
                : "-";
        };
        fmt::print("  {:<11} {:>14} {:>14} {:>14} {:>14.1f}\n", phase, cell(mmio), cell(pci), cell(qemu), host.at(phase) * 4096 / 1e6);
    }
    if (auto* reason = std::get_if<std::string>(&qemu))
        fmt::print("  QEMU not measured: {}\n", *reason);
    fmt::print("  (QEMU runs the same guest image, started through its PVH entry, with its own virtio-blk-pci;\n"
               "   under TCG it has no VM exits to count, so it appears only in this table)\n");
    return 0;
}

int main(int argc, char** argv)
{
    return app::run_main("bench_virtio_blk", [&] {
        Options options;
        CLI::App cli { "Chapter 06: legacy disk vs virtio-blk (mmio, pci) vs the host, in one run", "bench_virtio_blk" };
        cli.add_option("--requests", options.requests, "4 KiB requests per measured phase")->capture_default_str();
        cli.add_option("--queue-depth", options.queue_depth, "requests per kick")->check(CLI::Range(1u, 16u))->capture_default_str();
        cli.add_option("--repeat", options.repeat, "runs per configuration (the median is printed)")->check(CLI::Range(1u, 50u))->capture_default_str();
        cli.add_option("--scratch-directory", options.scratch_directory, "where scratch disk images go")->capture_default_str();
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        return run(options);
    });
}
