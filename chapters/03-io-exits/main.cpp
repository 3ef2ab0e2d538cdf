// Chapter 03 — I/O exit emulation.
//
// New here: devices. A port-I/O bus and an MMIO bus decode guest accesses to device models:
// a 16550 UART (the console: output to stdout, input from the terminal in raw mode) and a
// register-level "legacy" disk that a guest must poke hundreds of times per sector. Every
// poke is a VM exit, and this chapter counts them: per reason, per device, per sector, and
// what one exit costs. That cost is why chapters 04-08 exist.

#include <ch03_io_exits_abi.h>
#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/app/signal_flag.hpp>
#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/devices/legacy_disk.hpp>
#include <stepvmm/devices/null_device.hpp>
#include <stepvmm/devices/uart16550.hpp>
#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/io/bus.hpp>
#include <stepvmm/kvm/cpuid.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/terminal.hpp>
#include <stepvmm/stats/exit_report.hpp>

#include <array>
#include <fmt/format.h>
#include <cstdio>

using namespace stepvmm;
using Clock = std::chrono::steady_clock;

// Where a PC has these devices (and where Linux's drivers will look for them in chapter 05).
static constexpr std::uint16_t com1 = 0x3f8, com2 = 0x2f8, ata_primary = 0x1f0, post_code = 0x80;
static constexpr std::uint64_t null_mmio_page = 0xfe000000; // in the 32-bit device hole

struct Options {
    std::string guest = STEPVMM_DEFAULT_GUEST;
    std::string disk;
    bool read_only = false;
    unsigned sectors = 64;
    unsigned sectors_per_command = 8;
    unsigned echo_seconds = 5;
    unsigned exit_cost_iterations = 20000;
    unsigned timeout = 120;
};

// What the VMM and the disk had counted when the guest reached a sync point.
struct Snapshot {
    std::uint64_t disk_exits = 0;
    std::uint64_t sectors = 0;
    Clock::time_point time;
};

static int run(const Options& options)
{
    Kvm kvm;
    fmt::print("KVM: {}\n", describe(Kvm::detect_flavor()));
    backends::FileBackend disk_file(options.disk, options.read_only ? backends::DiskAccess::ReadOnly : backends::DiskAccess::ReadWrite);
    if (disk_file.size() < 512ULL * options.sectors)
        throw UserError(fmt::format("disk {} holds {} bytes; the guest writes {} sectors of 512", options.disk, disk_file.size(), options.sectors));

    // The machine: 64 MiB of RAM, the devices, and the two buses that decode them.
    GuestMemory memory(pc_memory_layout(64ULL << 20, 3ULL << 30), Backing::Anonymous4K);
    Vm vm(kvm);
    memory.install(vm);
    io::UnconnectedLine no_interrupt_controller_yet; // chapter 04 wires these up
    // Through stdio, flushed per byte: typed characters must appear at once, and in order
    // with the VMM's own lines.
    auto to_stdout = [](std::uint8_t byte) {
        std::fputc(byte, stdout);
        std::fflush(stdout);
    };
    devices::Uart16550 uart("uart0", to_stdout, no_interrupt_controller_yet);
    devices::LegacyDisk disk("legacy-disk", disk_file, no_interrupt_controller_yet);
    devices::NullDevice post("post-code"), null_mmio("null-mmio");
    io::Bus pio("PIO"), mmio("MMIO");
    pio.add(com1, 8, uart);
    pio.add(ata_primary, 8, disk);
    pio.add(post_code, 1, post);
    mmio.add(null_mmio_page, 0x1000, null_mmio);

    Vcpu vcpu = vm.create_vcpu(0);
    CpuidTable::supported_by(kvm).apply_to(vcpu);
    guest::GuestParams params {};
    params[CH03_PARAM_UART_PORT] = com1;
    params[CH03_PARAM_DISK_PORT] = ata_primary;
    params[CH03_PARAM_SECTORS] = options.sectors;
    params[CH03_PARAM_SECTORS_PER_COMMAND] = options.sectors_per_command;
    params[CH03_PARAM_ECHO_MILLISECONDS] = options.echo_seconds * 1000ULL;
    params[CH03_PARAM_EXIT_COST_ITERATIONS] = options.exit_cost_iterations;
    params[CH03_PARAM_NULL_PORT] = post_code;
    params[CH03_PARAM_NULL_MMIO_ADDRESS] = null_mmio_page;
    params[CH03_PARAM_UNCLAIMED_PORT] = com2;
    params[CH03_PARAM_DISK_READ_ONLY] = options.read_only;
    guest::prepare_guest(vcpu, memory, options.guest, x86::LongModeConfig {}, params);

    // The terminal becomes a serial line: keys go to the UART, the guest does the echo.
    RawTerminal terminal;
    StdinPoller keyboard;
    auto feed_keyboard = [&] {
        std::array<unsigned char, 16> keys {};
        while (uart.can_receive()) {
            auto count = keyboard.read_available(keys.data(), 1);
            if (!count || *count == 0)
                return;
            uart.receive(std::span(keys.data(), *count));
        }
    };

    std::array<Snapshot, CH03_SYNC_MMIO_DONE + 1> marks {};
    std::uint64_t disk_exits = 0; // exits on the disk's ports (a REP INSW is one exit for many accesses)
    auto take = [&](std::uint64_t stage) {
        if (stage >= marks.size())
            throw GuestError(fmt::format("the guest synced at stage {}, which this chapter does not define", stage));
        marks[stage] = { disk_exits, disk.statistics().sectors_read + disk.statistics().sectors_written, Clock::now() };
    };
    auto cpu_at_start = stats::current_thread_times();
    app::SignalFlag statistics_request(SIGUSR1);
    guest::RunHooks hooks;
    hooks.on_io = [&](const IoExit& exit) {
        if (exit.direction == AccessDirection::Read && exit.port >= com1 && exit.port < com1 + 8)
            feed_keyboard(); // polled input: look at the keyboard when the guest looks at the UART
        if (exit.port >= ata_primary && exit.port < ata_primary + 8)
            ++disk_exits;
        pio.dispatch(exit);
        return true;
    };
    hooks.on_mmio = [&](const MmioExit& exit) {
        mmio.access(exit.direction, exit.guest_physical_address, exit.data);
        return true;
    };
    hooks.on_sync = [&](std::uint64_t stage) { take(stage); };
    hooks.on_interrupted = [&](const guest::RunOutcome& so_far) {
        if (statistics_request.take())
            fmt::print(stderr, "\n{}", stats::format_exit_report(so_far, { &pio, &mmio }, stats::current_thread_times() - cpu_at_start));
    };
    auto outcome = guest::run_until_done(vcpu, memory, hooks, std::chrono::seconds(options.timeout));
    auto cpu = stats::current_thread_times() - cpu_at_start;

    auto phase = [&](std::uint64_t from, std::uint64_t to) {
        double sectors = static_cast<double>(marks[to].sectors - marks[from].sectors);
        double accesses = static_cast<double>(marks[to].disk_exits - marks[from].disk_exits);
        double seconds = std::chrono::duration<double>(marks[to].time - marks[from].time).count();
        return fmt::format("{:>5.0f} sectors, {:>7.0f} disk exits = {:.2f} exits/sector, {:.0f} sectors/s", sectors, accesses,
            sectors > 0 ? accesses / sectors : 0.0, sectors > 0 ? sectors / seconds : 0.0);
    };
    auto per_exit_us = [&](std::uint64_t from, std::uint64_t to) {
        return std::chrono::duration<double, std::micro>(marks[to].time - marks[from].time).count() / std::max(1u, options.exit_cost_iterations);
    };
    fmt::print("\nsummary\n");
    fmt::print("  disk writes: {}\n", phase(CH03_SYNC_DISK_START, CH03_SYNC_DISK_WRITTEN));
    fmt::print("  disk reads:  {}\n", phase(CH03_SYNC_DISK_WRITTEN, CH03_SYNC_DISK_READ));
    fmt::print("  {:<37} {:.2f} us round trip\n", fmt::format("one PIO exit (out to port {:#x}):", post_code), per_exit_us(CH03_SYNC_PIO_START, CH03_SYNC_PIO_DONE));
    fmt::print("  {:<37} {:.2f} us round trip\n", fmt::format("one MMIO exit (write to {:#x}):", null_mmio_page), per_exit_us(CH03_SYNC_PIO_DONE, CH03_SYNC_MMIO_DONE));
    fmt::print("  legacy disk: {} commands, {} errors reported to the guest, {} refused writes\n", disk.statistics().commands,
        disk.statistics().errors, outcome.report("write_commands_refused").value_or(0));
    fmt::print("  UART: {} bytes out, {} bytes in\n", uart.transmitted_bytes(), uart.received_bytes());
    fmt::print("{}", stats::format_exit_report(outcome, { &pio, &mmio }, cpu));
    return outcome.guest_status == 0 ? 0 : app::exit_guest_failed;
}

int main(int argc, char** argv)
{
    return app::run_main("ch03_io_exits", [&] {
        Options options;
        CLI::App cli { "Chapter 03: PIO and MMIO buses, a 16550 UART and a register-level disk; counting exits", "ch03_io_exits" };
        cli.add_option("--disk", options.disk, "raw disk image the legacy disk serves (its size is the disk's)")->required();
        cli.add_flag("--readonly", options.read_only, "refuse guest writes (the guest sees an error status)");
        cli.add_option("--guest", options.guest, "64-bit ELF guest")->capture_default_str();
        cli.add_option("--sectors", options.sectors, "sectors the guest writes and reads back")->check(CLI::Range(1u, 1u << 20))->capture_default_str();
        cli.add_option("--sectors-per-command", options.sectors_per_command, "sectors per READ/WRITE SECTORS command")->check(CLI::Range(1u, 64u))->capture_default_str();
        cli.add_option("--echo-seconds", options.echo_seconds, "how long the guest waits for a typed line (0: skip)")->capture_default_str();
        cli.add_option("--exit-cost-iterations", options.exit_cost_iterations, "exits timed for the PIO and MMIO cost")->capture_default_str();
        cli.add_option("--timeout", options.timeout, "seconds before a guest that does not finish is stopped")->capture_default_str();
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        return run(options);
    });
}
