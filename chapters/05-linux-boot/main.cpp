// Chapter 05 — boot a real Linux kernel.
//
// New here: the x86 Linux boot protocol (a bzImage's setup header, boot_params with the e820
// map, command line and initrd, the 64-bit entry state), the per-vCPU CPUID Linux reads, the
// firmware tables that tell Linux where its interrupt controllers are (an MP table, and minimal
// ACPI for kernels built without MP-table support), and an i8042 whose reset command is the
// guest's way to power off. The console is chapter 04's interrupt-driven UART.

#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/app/signal_flag.hpp>
#include <stepvmm/boot/acpi_tables.hpp>
#include <stepvmm/boot/boot_timeline.hpp>
#include <stepvmm/boot/linux_entry.hpp>
#include <stepvmm/boot/linux_loader.hpp>
#include <stepvmm/boot/linux_run.hpp>
#include <stepvmm/boot/linux_vcpu.hpp>
#include <stepvmm/boot/mp_table.hpp>
#include <stepvmm/devices/i8042.hpp>
#include <stepvmm/devices/serial_console.hpp>
#include <stepvmm/kvm/cpuid.hpp>
#include <stepvmm/kvm/irq_line.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/device_thread.hpp>
#include <stepvmm/os/file.hpp>
#include <stepvmm/os/terminal.hpp>
#include <stepvmm/stats/exit_report.hpp>

#include <cstdio>
#include <fmt/format.h>
#include <unistd.h>

using namespace stepvmm;

static constexpr std::uint16_t com1 = 0x3f8, i8042_port = 0x60;
static constexpr std::uint32_t com1_irq = 4;
static constexpr std::uint64_t hole_start = 3ULL << 30; // RAM above 3 GiB continues at 4 GiB
static constexpr std::uint64_t image_size_limit = 1ULL << 30;
static constexpr const char* init_marker = "stepvmm: /init reached";

/// Exit statuses besides app::exit_error (1) and app::exit_guest_failed (2).
static constexpr int exit_timed_out = 3;
static constexpr int exit_emulation_limit = 4; // kvm_pvm: the kernel reached an instruction KVM cannot emulate

struct Options {
    std::string kernel;
    std::string initrd;
    std::string command_line = "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 i8042.noaux i8042.nokbd "
                               "tsc=reliable no_timer_check";
    std::string memory = "512M";
    unsigned cpus = 1;
    unsigned timeout = 120;
};

static int run(const Options& options)
{
    auto vmm_start = boot::BootTimeline::Clock::now();
    Kvm kvm;
    KvmFlavor flavor = Kvm::detect_flavor();
    fmt::print("KVM: {}\n", describe(flavor));
    if (flavor == KvmFlavor::Pvm)
        fmt::print("note: this KVM emulates guest kernel mode; a stock kernel prints its early boot log and then stops "
                   "on an instruction the emulator lacks. Booting anyway.\n");

    GuestMemory memory(pc_memory_layout(parse_size(options.memory), hole_start), Backing::Anonymous4K);
    Vm vm(kvm);
    for (const std::string& note : boot::prepare_linux_vm(vm).skipped)
        fmt::print("note: {}\n", note);
    memory.install(vm);
    vm.create_irqchip(); // PICs, IOAPIC and local APICs, described to Linux by the MP table and the MADT
    vm.create_pit();

    auto kernel = read_whole_file(options.kernel, image_size_limit);
    std::optional<std::vector<std::uint8_t>> initrd;
    if (!options.initrd.empty())
        initrd = read_whole_file(options.initrd, image_size_limit);
    auto loaded = boot::load_linux(memory, kernel, options.kernel,
        initrd ? std::optional<std::span<const std::uint8_t>>(*initrd) : std::nullopt, options.command_line);
    boot::write_mp_table(memory, boot::MpConfig { .cpu_count = options.cpus });
    auto acpi = boot::write_acpi_tables(memory, boot::AcpiConfig { .cpu_count = options.cpus });
    fmt::print("firmware tables: MP table at {:#x}, ACPI RSDP at {:#x} (XSDT, FADT, DSDT, MADT)\n", boot::bios_area_mp_address, acpi.rsdp);
    if (loaded.header)
        fmt::print("kernel: bzImage, boot protocol {}, {} bytes at {:#x}, entry {:#x}\n",
            boot::format_protocol_version(loaded.header->version), loaded.kernel_size, loaded.kernel_address, loaded.entry);
    else
        fmt::print("kernel: vmlinux ELF, {} bytes at {:#x}, entry {:#x}\n", loaded.kernel_size, loaded.kernel_address, loaded.entry);
    if (flavor == KvmFlavor::Pvm && loaded.format == boot::KernelFormat::BzImage)
        fmt::print("note: a bzImage first decompresses itself, which takes over a minute in this emulator; "
                   "an uncompressed vmlinux starts printing at once\n");
    if (loaded.initrd_size)
        fmt::print("initrd: {} bytes at {:#x}\n", loaded.initrd_size, loaded.initrd_address);
    fmt::print("command line: {}\ne820 map we give the kernel:\n", loaded.command_line);
    for (const boot::E820Entry& entry : loaded.e820)
        fmt::print("  {}\n", boot::format_like_linux(entry));
    std::fflush(stdout);

    // Every vCPU gets its APIC id in CPUID; only the bootstrap CPU runs until Linux wakes the
    // others with INIT/SIPI through the in-kernel local APICs.
    auto supported = CpuidTable::supported_by(kvm);
    std::vector<Vcpu> vcpus;
    for (unsigned id = 0; id < options.cpus; ++id) {
        vcpus.push_back(vm.create_vcpu(id));
        boot::configure_linux_vcpu(vcpus.back(), supported, id);
    }
    boot::enter_linux(vcpus[0], memory, loaded);

    boot::BootTimeline timeline(vmm_start, { "Linux version", init_marker });
    KvmIrqLine uart_irq(vm, com1_irq);
    auto to_stdout = [&](std::uint8_t byte) {
        timeline.observe(byte);
        std::fputc(byte, stdout);
        std::fflush(stdout); // a shell prompt has no newline; each byte was an exit anyway
    };
    devices::SerialConsole console("ttyS0", to_stdout, uart_irq);
    devices::I8042 keyboard_controller({});
    io::Bus pio("PIO"), mmio("MMIO");
    pio.add(com1, 8, console);
    pio.add(i8042_port, devices::I8042::window_size, keyboard_controller);

    RawTerminal terminal;
    app::SignalFlag interrupt(SIGINT);
    DeviceThread device_thread("ch05-console");
    console.attach_input(device_thread.loop(), STDIN_FILENO);

    boot::LinuxRunHooks hooks;
    hooks.reset_requested = [&] { return keyboard_controller.reset_requested(); };
    hooks.stop_requested = [&] { return interrupt.take(); };
    auto cpu_at_start = stats::current_thread_times();
    auto result = boot::run_linux(vcpus[0], pio, mmio, hooks, std::chrono::seconds(options.timeout));
    auto cpu = stats::current_thread_times() - cpu_at_start;
    device_thread.stop_and_join();
    std::fflush(stdout);

    fmt::print("\n");
    int status = 0;
    switch (result.reason) {
    case boot::StopReason::GuestReset:
        fmt::print("the guest asked the i8042 to reset the machine: treated as its power-off\n");
        break;
    case boot::StopReason::InternalError:
        if (flavor == KvmFlavor::Pvm) {
            fmt::print("stopped: the kernel reached an instruction kvm_pvm cannot emulate in guest kernel mode "
                       "(the expected end here; hardware KVM boots on). RIP {:#x}\n", vcpus[0].registers().rip);
            status = exit_emulation_limit;
        } else {
            fmt::print("stopped: {}\n", result.detail);
            fmt::print(stderr, "{}", vcpus[0].dump_registers());
            status = app::exit_guest_failed;
        }
        break;
    case boot::StopReason::TimedOut:
        fmt::print("stopped: the guest was still running after {} s (--timeout)\n", options.timeout);
        status = exit_timed_out;
        break;
    case boot::StopReason::StopRequested:
        fmt::print("stopped on Ctrl-C\n");
        status = 130;
        break;
    default:
        fmt::print("stopped: {} ({})\n", describe(result.reason), result.detail);
        fmt::print(stderr, "{}", vcpus[0].dump_registers());
        status = app::exit_guest_failed;
        break;
    }
    fmt::print("boot timing (from VMM start):\n{}  {:<32} {:8.3f} s\n", timeline.format(), "the VM stopped:",
        std::chrono::duration<double>(boot::BootTimeline::Clock::now() - vmm_start).count());
    fmt::print("{}", stats::format_exit_report(result.outcome, { &pio, &mmio }, cpu));
    return status;
}

int main(int argc, char** argv)
{
    return app::run_main("ch05_linux_boot", [&] {
        Options options;
        CLI::App cli { "Chapter 05: boot a Linux kernel (bzImage or vmlinux) with an initrd and a serial console", "ch05_linux_boot" };
        cli.add_option("--kernel", options.kernel, "bzImage or uncompressed vmlinux ELF")->required()->check(CLI::ExistingFile);
        cli.add_option("--initrd", options.initrd, "initramfs (cpio, optionally compressed)")->check(CLI::ExistingFile);
        cli.add_option("--cmdline", options.command_line, "kernel command line")->capture_default_str();
        cli.add_option("--mem", options.memory, "guest RAM (e.g. 512M, 4G)")->capture_default_str();
        // One for now: the Debian cloud kernel finds further CPUs only through ACPI (it is built
        // without MP-table parsing), and running more needs a thread per vCPU (README).
        cli.add_option("--cpus", options.cpus, "vCPUs (1 in this chapter)")->check(CLI::Range(1u, 1u))->capture_default_str();
        cli.add_option("--timeout", options.timeout, "seconds before the VM is stopped")->capture_default_str();
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        return run(options);
    });
}
