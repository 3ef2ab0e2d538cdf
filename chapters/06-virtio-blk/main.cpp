// Chapter 06 — virtio-blk.
//
// New here: paravirtualization. Instead of chapter 03's register-level disk, where every
// byte cost a VM exit, the guest puts whole requests in a split virtqueue in its own RAM and
// kicks once; a device thread (woken by an ioeventfd) does the I/O and answers with an
// interrupt (an irqfd). The same virtio-blk device sits behind either transport:
//   mmio  virtio-mmio registers at a fixed address, a level-triggered interrupt line
//   pci   a PCI function found through configuration space, MSI-X (or INTx) interrupts

#include <ch06_virtio_blk_abi.h>
#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/boot/acpi_tables.hpp>
#include <stepvmm/boot/linux_entry.hpp>
#include <stepvmm/boot/linux_loader.hpp>
#include <stepvmm/boot/linux_run.hpp>
#include <stepvmm/boot/linux_vcpu.hpp>
#include <stepvmm/boot/mp_table.hpp>
#include <stepvmm/devices/i8042.hpp>
#include <stepvmm/os/file.hpp>
#include <stepvmm/devices/serial_console.hpp>
#include <stepvmm/devices/virtio_blk.hpp>
#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/guest/phase_marks.hpp>
#include <stepvmm/kvm/cpuid.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/device_thread.hpp>
#include <stepvmm/os/terminal.hpp>
#include <stepvmm/stats/exit_report.hpp>
#include <stepvmm/virtio/attachment.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <unistd.h>

using namespace stepvmm;

static constexpr std::uint16_t com1 = 0x3f8;
static constexpr std::uint32_t com1_irq = 4, mmio_irq = 5, pci_intx_irq = 11, first_msi_gsi = 24;
static constexpr std::uint64_t mmio_base = 0xd0000000, pci_bar = 0xe0000000;
static constexpr std::uint8_t pci_slot = 1;

struct Options {
    std::string disk;
    std::string transport = "pci";
    std::string interrupts = "msix";
    bool read_only = false;
    std::string guest = STEPVMM_DEFAULT_GUEST;
    unsigned sectors = 256, request_sectors = 8, seed = 1, bench_requests = 4000, queue_depth = 16;
    bool event_idx = true, indirect = true;
    unsigned timeout = 300;
    // Linux instead of the tiny guest (chapter 05's boot), with the disk as /dev/vda.
    std::string kernel, initrd;
    std::string command_line = "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 i8042.noaux i8042.nokbd";
    std::string memory = "64M";
};

static int boot_linux(const Options&, Kvm&, Vm&, Vcpu&, GuestMemory&, io::Bus& pio, io::Bus& mmio);

/// Stops the device thread on every way out of run(), before the devices it serves go away.
struct StopOnExit {
    DeviceThread& thread;
    ~StopOnExit() { thread.stop_and_join(); }
};

static int run(const Options& options)
{
    bool over_pci = options.transport == "pci";
    Kvm kvm;
    fmt::print("KVM: {}\n", describe(Kvm::detect_flavor()));
    bool linux_guest = !options.kernel.empty();
    GuestMemory memory(pc_memory_layout(parse_size(linux_guest && options.memory == "64M" ? "512M" : options.memory), 3ULL << 30),
        Backing::Anonymous4K);
    Vm vm(kvm);
    if (linux_guest)
        boot::prepare_linux_vm(vm);
    memory.install(vm);
    vm.create_irqchip();
    vm.create_pit();
    Vcpu vcpu = vm.create_vcpu(0);
    CpuidTable::supported_by(kvm).apply_to(vcpu);

    // The disk: a file backend, the virtio-blk device model, and the transport-independent
    // virtio state (features, status, queues) that both transports drive.
    backends::FileBackend disk(options.disk, options.read_only ? backends::DiskAccess::ReadOnly : backends::DiskAccess::ReadWrite);
    // The tiny guest writes its pattern after CH06_PATTERN_FIRST_SECTOR: a disk too small for
    // it is the user's mistake, said here in one line rather than as an I/O error in the guest.
    std::uint64_t sectors_needed = CH06_PATTERN_FIRST_SECTOR + std::uint64_t { options.sectors };
    if (!linux_guest && disk.size() / 512 < sectors_needed)
        throw UserError(fmt::format("disk {}: {} bytes hold {} whole sectors; the guest's pattern needs {} (--sectors {} from sector {}): "
                                    "make it at least {} bytes, e.g. truncate -s 1M {}",
            options.disk, disk.size(), disk.size() / 512, sectors_needed, options.sectors, CH06_PATTERN_FIRST_SECTOR, sectors_needed * 512,
            options.disk));
    devices::VirtioBlk block("virtio-blk", disk, "stepvmm-" + std::filesystem::path(options.disk).filename().string());
    virtio::DeviceState state(block, memory);

    KvmIrqLine uart_irq(vm, com1_irq);
    devices::SerialConsole console("uart0", [](std::uint8_t byte) { std::fputc(byte, stdout), std::fflush(stdout); }, uart_irq);
    io::Bus pio("PIO"), mmio("MMIO");
    pio.add(com1, 8, console);
    RawTerminal terminal;
    DeviceThread device_thread("ch06-virtio");
    console.attach_input(device_thread.loop(), STDIN_FILENO);

    // Plug the device in through one transport. Its queue notifications become ioeventfds the
    // device thread serves; its interrupts are irqfds raised from that thread (MSI-X: one per
    // vector; mmio and INTx: a resampling irqfd, since those lines are level-triggered).
    pci::HostBridge host_bridge;
    pci::KvmMsiRoutes msi_routes(vm);
    std::optional<virtio::MmioAttachment> over_mmio;
    std::optional<virtio::PciAttachment> over_pci_bus;
    if (over_pci) {
        pio.add(pci::config_address_port, pci::config_window_size, host_bridge);
        over_pci_bus.emplace(vm, mmio, host_bridge, pci_slot, device_thread.loop(), state, msi_routes, first_msi_gsi, pci_intx_irq, pci_bar);
    } else {
        over_mmio.emplace(vm, mmio, device_thread.loop(), state, mmio_base, mmio_irq);
    }
    StopOnExit stop_device_thread { device_thread };
    if (linux_guest)
        return boot_linux(options, kvm, vm, vcpu, memory, pio, mmio);

    guest::GuestParams params {};
    params[CH06_PARAM_UART_PORT] = com1;
    params[CH06_PARAM_TRANSPORT] = over_pci ? CH06_TRANSPORT_PCI : CH06_TRANSPORT_MMIO;
    params[CH06_PARAM_MMIO_BASE] = mmio_base;
    params[CH06_PARAM_MMIO_IRQ] = mmio_irq;
    params[CH06_PARAM_PCI_INTX_IRQ] = options.interrupts == "intx" ? pci_intx_irq : 0;
    params[CH06_PARAM_SECTORS] = options.sectors;
    params[CH06_PARAM_REQUEST_SECTORS] = options.request_sectors;
    params[CH06_PARAM_SEED] = options.seed;
    params[CH06_PARAM_EVENT_IDX] = options.event_idx;
    params[CH06_PARAM_INDIRECT] = options.indirect;
    params[CH06_PARAM_READONLY] = options.read_only;
    params[CH06_PARAM_BENCH_REQUESTS] = options.bench_requests;
    params[CH06_PARAM_QUEUE_DEPTH] = options.queue_depth;
    guest::prepare_guest(vcpu, memory, options.guest, x86::LongModeConfig {}, params);

    guest::PhaseMarks marks(5);
    guest::RunHooks hooks;
    marks.install(hooks);
    hooks.dispatch_to(pio, mmio);
    auto cpu_at_start = stats::current_thread_times();
    auto outcome = guest::run_until_done(vcpu, memory, hooks, std::chrono::seconds(options.timeout));
    auto cpu = stats::current_thread_times() - cpu_at_start;
    device_thread.stop_and_join();
    if (auto failure = device_thread.failure())
        std::rethrow_exception(failure);

    auto exits_between = [&](int from, int to) { return marks.exits_between(from, to); };
    auto statistics = block.statistics();
    double pattern_requests = 2.0 * std::ceil(static_cast<double>(options.sectors) / options.request_sectors) + 1;
    fmt::print("\nsummary (virtio-blk over {}{})\n", options.transport, over_pci ? fmt::format(", {}", options.interrupts) : "");
    fmt::print("  pattern phase: {} sectors written, flushed, read back and checked by the guest\n", outcome.report("pattern_sectors").value_or(0));
    fmt::print("    user-space exits: {:.0f} for {:.0f} requests ({:.2f} per request, {:.3f} per sector)\n",
        exits_between(CH06_SYNC_PATTERN_START, CH06_SYNC_PATTERN_DONE), pattern_requests,
        exits_between(CH06_SYNC_PATTERN_START, CH06_SYNC_PATTERN_DONE) / pattern_requests,
        exits_between(CH06_SYNC_PATTERN_START, CH06_SYNC_PATTERN_DONE) / (2.0 * options.sectors));
    fmt::print("    interrupts taken by the guest: {}\n", outcome.report("pattern_interrupts").value_or(0));
    double tsc_khz = static_cast<double>(vcpu.tsc_khz().value_or(0));
    if (auto requests = outcome.report("bench_requests"); requests && tsc_khz > 0) {
        fmt::print("  measured phases (ring 3, polled, {} requests of 4 KiB, {} per kick):\n", *requests, outcome.report("bench_queue_depth").value_or(0));
        for (const char* name : { "seq_write", "seq_read", "rand_read", "rand_write" }) {
            auto tsc = outcome.report(fmt::format("{}_tsc", name));
            if (!tsc)
                continue;
            double seconds = static_cast<double>(*tsc) / tsc_khz / 1000;
            fmt::print("    {:<10} {:9.0f} requests/s {:8.1f} MB/s\n", name, static_cast<double>(*requests) / seconds,
                static_cast<double>(*requests) * 4096 / seconds / 1e6);
        }
        double bench_exits = exits_between(CH06_SYNC_BENCH_START, CH06_SYNC_BENCH_DONE);
        // The phases' own REPORT ucalls are exits too: one per phase.
        fmt::print("    user-space exits per request: {:.3f}; kicks {}, kicks the device suppressed {}\n",
            bench_exits / (static_cast<double>(*requests) * 4), outcome.report("bench_kicks").value_or(0),
            outcome.report("bench_kicks_suppressed").value_or(0));
    }
    std::uint64_t interrupts_sent = over_pci ? over_pci_bus->transport().msi_messages_sent() + over_pci_bus->transport().intx_interrupts()
                                             : over_mmio->transport().interrupts_raised();
    std::uint64_t absorbed = over_pci ? over_pci_bus->kicks().absorbed() : over_mmio->kicks().absorbed();
    fmt::print("  device: {} requests ({} reads, {} writes, {} flushes, {} get-id), {:.1f} MiB read, {:.1f} MiB written\n",
        statistics.requests, statistics.reads, statistics.writes, statistics.flushes, statistics.get_ids,
        static_cast<double>(statistics.bytes_read) / (1 << 20), static_cast<double>(statistics.bytes_written) / (1 << 20));
    fmt::print("  device: {} kicks absorbed by ioeventfd, {} queue passes, {} interrupts sent, {} passes the driver wanted no interrupt for\n", absorbed,
        statistics.queue_passes, interrupts_sent, statistics.notifications_suppressed);
    const LevelIrqFdLine* level_line = over_pci ? (options.interrupts == "intx" ? &over_pci_bus->intx_line() : nullptr) : &over_mmio->interrupt_line();
    if (level_line)
        fmt::print("  level-triggered line (resampling irqfd): raised {} times, {} EOIs reported back, {} raised again after an EOI\n",
            level_line->raised_count(), level_line->resample_count(), level_line->reraised_count());
    fmt::print("{}", stats::format_exit_report(outcome, { &pio, &mmio }, cpu));
    if (!state.needs_reset_reason().empty())
        fmt::print("the device needed a reset: {}\n", state.needs_reset_reason());
    return outcome.guest_status == 0 ? 0 : app::exit_guest_failed;
}

// Linux finds the disk on its own: on PCI by enumerating bus 0, on virtio-mmio from the
// command line (virtio_mmio.device=, which needs CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
static int boot_linux(const Options& options, Kvm& kvm, Vm&, Vcpu& vcpu, GuestMemory& memory, io::Bus& pio, io::Bus& mmio)
{
    // stepvmm.disktest=1: the recipe's /init makes a file system on /dev/vda and writes a file.
    std::string command_line = options.command_line + " stepvmm.disktest=1";
    if (options.transport == "mmio")
        command_line += fmt::format(" virtio_mmio.device={:#x}@{:#x}:{}", virtio::mmio::window_size, mmio_base, mmio_irq);
    auto kernel = read_whole_file(options.kernel, 1ULL << 30);
    std::optional<std::vector<std::uint8_t>> initrd;
    if (!options.initrd.empty())
        initrd = read_whole_file(options.initrd, 1ULL << 30);
    auto loaded = boot::load_linux(memory, kernel, options.kernel, initrd ? std::optional<std::span<const std::uint8_t>>(*initrd) : std::nullopt,
        command_line);
    boot::write_mp_table(memory, boot::MpConfig { .cpu_count = 1 });
    boot::write_acpi_tables(memory, boot::AcpiConfig { .cpu_count = 1 });
    boot::configure_linux_vcpu(vcpu, CpuidTable::supported_by(kvm), 0);
    boot::enter_linux(vcpu, memory, loaded);
    devices::I8042 keyboard_controller({});
    pio.add(0x60, devices::I8042::window_size, keyboard_controller);
    fmt::print("booting {} with the disk on virtio-{}; command line: {}\n", options.kernel, options.transport, command_line);
    std::fflush(stdout);
    boot::LinuxRunHooks hooks;
    hooks.reset_requested = [&] { return keyboard_controller.reset_requested(); };
    auto result = boot::run_linux(vcpu, pio, mmio, hooks, std::chrono::seconds(options.timeout));
    fmt::print("\nthe VM stopped: {} {}\n", describe(result.reason), result.detail);
    fmt::print("{}", stats::format_exit_report(result.outcome, { &pio, &mmio }, {}));
    if (result.reason == boot::StopReason::InternalError && Kvm::detect_flavor() == KvmFlavor::Pvm) {
        // As in chapter 05: on kvm_pvm a stock kernel stops early, before it reaches its disks.
        fmt::print("kvm_pvm cannot run this kernel further (chapter 05 explains); hardware KVM boots on to /dev/vda\n");
        return 4;
    }
    return result.reason == boot::StopReason::GuestReset ? 0 : app::exit_guest_failed;
}

int main(int argc, char** argv)
{
    return app::run_main("ch06_virtio_blk", [&] {
        Options options;
        CLI::App cli { "Chapter 06: a virtio-blk disk over virtio-mmio or virtio-pci", "ch06_virtio_blk" };
        cli.add_option("--disk", options.disk, "raw disk image file")->required();
        cli.add_option("--transport", options.transport, "pci or mmio")->check(CLI::IsMember({ "pci", "mmio" }))->capture_default_str();
        cli.add_option("--interrupts", options.interrupts, "virtio-pci interrupts: msix or intx")->check(CLI::IsMember({ "msix", "intx" }))->capture_default_str();
        cli.add_flag("--readonly", options.read_only, "give the guest a read-only disk");
        cli.add_option("--sectors", options.sectors, "sectors the guest writes and checks")->check(CLI::Range(1u, 1u << 20))->capture_default_str();
        cli.add_option("--request-sectors", options.request_sectors, "sectors per request while doing so")->check(CLI::Range(1u, 64u))->capture_default_str();
        cli.add_option("--seed", options.seed, "what the guest's pattern is derived from")->capture_default_str();
        cli.add_option("--bench-requests", options.bench_requests, "4 KiB requests per measured phase (0: none)")->capture_default_str();
        cli.add_option("--queue-depth", options.queue_depth, "requests per kick in the measured phases")->check(CLI::Range(1u, 16u))->capture_default_str();
        cli.add_option("--event-idx", options.event_idx, "negotiate VIRTIO_F_EVENT_IDX")->capture_default_str();
        cli.add_option("--indirect", options.indirect, "negotiate VIRTIO_F_INDIRECT_DESC")->capture_default_str();
        cli.add_option("--guest", options.guest, "64-bit ELF guest")->capture_default_str();
        cli.add_option("--kernel", options.kernel, "boot this Linux kernel instead of the tiny guest")->check(CLI::ExistingFile);
        cli.add_option("--initrd", options.initrd, "initramfs for --kernel")->check(CLI::ExistingFile);
        cli.add_option("--cmdline", options.command_line, "kernel command line for --kernel")->capture_default_str();
        cli.add_option("--mem", options.memory, "guest RAM (512M when booting Linux)")->capture_default_str();
        cli.add_option("--timeout", options.timeout, "seconds before a guest that does not finish is stopped")->capture_default_str();
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        return run(options);
    });
}
