// Chapter 04 — eventfd, irqfd and ioeventfd.
//
// New here: KVM's in-kernel interrupt controllers and timer, and two ways to take the VMM's
// user space out of the I/O path. The same request-queue device runs three ways:
//   exit       kick = an ordinary exit to the VMM; completion = KVM_IRQ_LINE, both on the vCPU thread
//   ioeventfd  kick = an ioeventfd KVM signals without leaving the kernel; a device thread
//              serves the queue; completion = an irqfd, injected by KVM
//   batched    as ioeventfd, with many requests per kick
// The guest is identical in all three; only the VMM's wiring changes.

#include <ch04_eventfd_abi.h>
#include <request_queue_abi.h>
#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/devices/request_queue.hpp>
#include <stepvmm/devices/serial_console.hpp>
#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/guest/phase_marks.hpp>
#include <stepvmm/io/bus.hpp>
#include <stepvmm/kvm/cpuid.hpp>
#include <stepvmm/kvm/irq_line.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/device_thread.hpp>
#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/terminal.hpp>
#include <stepvmm/stats/exit_report.hpp>

#include <array>
#include <cstdio>
#include <fmt/format.h>
#include <memory>
#include <unistd.h>

using namespace stepvmm;

static constexpr std::uint16_t com1 = 0x3f8;
static constexpr std::uint32_t com1_irq = 4, queue_irq = 5;
static constexpr std::uint64_t queue_port = 0x600, queue_mmio = 0xfe001000;

struct Options {
    std::string guest = STEPVMM_DEFAULT_GUEST;
    std::string mode = "ioeventfd";
    std::string doorbell = "pio";
    unsigned requests = 2000;
    unsigned batch = 32;
    unsigned echo_seconds = 0;
    unsigned timeout = 120;
};

static int run(const Options& options)
{
    bool exits_to_vmm = options.mode == "exit";
    unsigned batch = options.mode == "batched" ? options.batch : 1;
    bool in_mmio = options.doorbell == "mmio";
    std::uint64_t window = in_mmio ? queue_mmio : queue_port;
    Kvm kvm;
    fmt::print("KVM: {}\n", describe(Kvm::detect_flavor()));

    GuestMemory memory(pc_memory_layout(64ULL << 20, 3ULL << 30), Backing::Anonymous4K);
    Vm vm(kvm);
    memory.install(vm);
    vm.create_irqchip(); // PICs, IOAPIC, local APICs: interrupts never need the VMM again
    vm.create_pit();     // the 8254 the guest uses to time out its wait for a typed line
    Vcpu vcpu = vm.create_vcpu(0);
    CpuidTable::supported_by(kvm).apply_to(vcpu);

    KvmIrqLine uart_irq(vm, com1_irq);
    auto to_stdout = [](std::uint8_t byte) {
        std::fputc(byte, stdout);
        std::fflush(stdout);
    };
    devices::SerialConsole console("uart0", to_stdout, uart_irq);
    RawTerminal terminal;

    // The completion interrupt: an ioctl from the vCPU thread, or an irqfd any thread can fire.
    std::unique_ptr<io::InterruptLine> completion;
    if (exits_to_vmm)
        completion = std::make_unique<KvmIrqLine>(vm, queue_irq);
    else
        completion = std::make_unique<IrqFdLine>(vm, queue_irq);
    devices::RequestQueue queue("request-queue", memory, *completion);

    io::Bus pio("PIO"), mmio("MMIO");
    pio.add(com1, 8, console);
    (in_mmio ? mmio : pio).add(window, REQUEST_QUEUE_WINDOW_SIZE, queue);

    // The kick: unless this is the "exit" mode, KVM absorbs doorbell writes into an eventfd
    // and the device thread serves the queue; the vCPU never leaves the guest for it.
    EventFd kick;
    IoEventFdMatch doorbell { in_mmio ? IoSpace::Mmio : IoSpace::Pio, window + REQUEST_QUEUE_DOORBELL, 4, std::nullopt };
    // Declared after everything its handlers touch, so that on any way out it stops first.
    DeviceThread device_thread("ch04-device");
    console.attach_input(device_thread.loop(), STDIN_FILENO); // keys arrive on the device thread
    if (!exits_to_vmm) {
        vm.assign_ioeventfd(kick.fd(), doorbell);
        device_thread.loop().add(kick.fd(), [&] {
            kick.consume();
            queue.count_external_kick();
            queue.process();
        });
    }

    guest::GuestParams params {};
    params[CH04_PARAM_UART_PORT] = com1;
    params[CH04_PARAM_UART_IRQ] = com1_irq;
    params[CH04_PARAM_DEVICE_ADDRESS] = window;
    params[CH04_PARAM_DEVICE_IN_MMIO] = in_mmio;
    params[CH04_PARAM_DEVICE_IRQ] = queue_irq;
    params[CH04_PARAM_REQUESTS] = options.requests;
    params[CH04_PARAM_BATCH] = batch;
    params[CH04_PARAM_ECHO_MILLISECONDS] = options.echo_seconds * 1000ULL;
    guest::prepare_guest(vcpu, memory, options.guest, x86::LongModeConfig {}, params);

    guest::PhaseMarks marks(3);
    guest::RunHooks hooks;
    marks.install(hooks);
    hooks.dispatch_to(pio, mmio);
    auto cpu_at_start = stats::current_thread_times();
    auto outcome = guest::run_until_done(vcpu, memory, hooks, std::chrono::seconds(options.timeout));
    auto cpu = stats::current_thread_times() - cpu_at_start;
    device_thread.stop_and_join();
    if (auto failure = device_thread.failure())
        std::rethrow_exception(failure);
    if (!exits_to_vmm)
        vm.unassign_ioeventfd(kick.fd(), doorbell);

    double requests = static_cast<double>(outcome.report("requests").value_or(0));
    double kicks = static_cast<double>(outcome.report("kicks").value_or(0));
    double interrupts = static_cast<double>(outcome.report("device_interrupts").value_or(0));
    double phase_exits = marks.exits_between(CH04_SYNC_REQUESTS_START, CH04_SYNC_REQUESTS_DONE);
    double seconds = marks.seconds_between(CH04_SYNC_REQUESTS_START, CH04_SYNC_REQUESTS_DONE);
    double tsc_khz = static_cast<double>(vcpu.tsc_khz().value_or(0));
    double round_trip_us = tsc_khz > 0 ? static_cast<double>(outcome.report("round_trip_tsc").value_or(0)) / tsc_khz * 1000 / kicks : 0;
    auto statistics = queue.statistics();

    fmt::print("\nsummary ({} mode, doorbell in {})\n", options.mode, in_mmio ? "MMIO" : "port I/O");
    fmt::print("  requests: {:.0f} in {:.0f} kicks; the guest took {:.0f} completion interrupts\n", requests, kicks, interrupts);
    fmt::print("  user-space exits per request: {:.2f}\n", phase_exits / requests);
    fmt::print("  kicks per request:            {:.3f}\n", kicks / requests);
    fmt::print("  interrupts per request:       {:.3f}\n", interrupts / requests);
    fmt::print("  round trip per kick:          {:.1f} us (guest TSC, kick to interrupt handled)\n", round_trip_us);
    fmt::print("  requests per second:          {:.0f}\n", requests / seconds);
    fmt::print("  device: {} requests served, {} kicks by exit, {} by ioeventfd, {} interrupts raised\n", statistics.requests,
        statistics.kicks, statistics.external_kicks, statistics.notifications);
    if (auto echoed = outcome.report("echoed_bytes"))
        fmt::print("  typed line: {} bytes echoed, {} UART receive interrupts\n", *echoed, outcome.report("uart_interrupts").value_or(0));
    fmt::print("{}", stats::format_exit_report(outcome, { &pio, &mmio }, cpu));
    return outcome.guest_status == 0 ? 0 : app::exit_guest_failed;
}

int main(int argc, char** argv)
{
    return app::run_main("ch04_eventfd", [&] {
        Options options;
        CLI::App cli { "Chapter 04: irqchip, ioeventfd and irqfd: the same device with and without VMM round trips", "ch04_eventfd" };
        cli.add_option("--mode", options.mode, "exit, ioeventfd or batched")->check(CLI::IsMember({ "exit", "ioeventfd", "batched" }))->capture_default_str();
        cli.add_option("--doorbell", options.doorbell, "where the device's registers live: pio or mmio")->check(CLI::IsMember({ "pio", "mmio" }))->capture_default_str();
        cli.add_option("--requests", options.requests, "requests the guest completes")->check(CLI::Range(1u, 10000000u))->capture_default_str();
        cli.add_option("--batch", options.batch, "requests per kick in batched mode")->check(CLI::Range(1u, 256u))->capture_default_str();
        cli.add_option("--echo-seconds", options.echo_seconds, "wait this long for a typed line, interrupt driven (0: skip)")->capture_default_str();
        cli.add_option("--guest", options.guest, "64-bit ELF guest")->capture_default_str();
        cli.add_option("--timeout", options.timeout, "seconds before a guest that does not finish is stopped")->capture_default_str();
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        return run(options);
    });
}
