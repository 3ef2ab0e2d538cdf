// Chapter 01 — the bare KVM_RUN loop.
//
// Everything a VMM does starts here: open /dev/kvm, create a VM, give it memory, create a
// vCPU, and call KVM_RUN until the guest stops. Each return from KVM_RUN is a "VM exit": the
// guest did something (here: an OUT instruction, then HLT) that KVM hands to us to emulate.
// The steps below follow Documentation/virt/kvm/api.rst §4 in the order a VMM needs them.

#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/app/run_deadline.hpp>
#include <stepvmm/app/vcpu_kick.hpp>
#include <stepvmm/kvm/exit_counter.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/os/file.hpp>
#include <stepvmm/os/mapping.hpp>
#include <stepvmm/os/system_error.hpp>

#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <sys/mman.h>

using namespace stepvmm;

// Real mode addresses 1 MiB (segment * 16 + offset); one slot covers all of it.
static constexpr std::uint64_t guest_ram_size = 1 << 20;
// Where a PC BIOS loads a boot sector; our flat binary is linked for it (guest/realmode).
static constexpr std::uint64_t load_address = 0x7c00;
// I/O port of the PC's first serial port; chapter 03 puts a real UART model behind it.
static constexpr std::uint16_t console_port = 0x3f8;

static int run(const std::string& guest_path, std::chrono::seconds time_limit)
{
    // 1. The system fd: checks the API version (api.rst §4.1).
    Kvm kvm;
    fmt::print("KVM: API version 12, {}\n", describe(Kvm::detect_flavor()));
    kvm.require_extension(KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY");

    // 2. The VM fd, and one memory slot: guest-physical 0..1 MiB is this host mapping.
    Vm vm(kvm);
    Mapping ram = Mapping::map(guest_ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0, "guest RAM");
    vm.set_memory_slot({ .slot = 0, .guest_physical_address = 0, .size = guest_ram_size, .host_address = ram.data() });

    // 3. The guest: raw bytes copied to where it was linked to run.
    auto image = read_whole_file(guest_path, guest_ram_size - load_address);
    if (image.empty())
        throw UserError(fmt::format("guest image {} is empty", guest_path));
    std::memcpy(ram.data() + load_address, image.data(), image.size());

    // 4. One vCPU. It starts in real mode (as a PC does after reset); point CS:IP at the guest.
    Vcpu vcpu = vm.create_vcpu(0);
    kvm_sregs sregs = vcpu.special_registers();
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    vcpu.set_special_registers(sregs);
    kvm_regs regs {};
    regs.rip = load_address;
    regs.rflags = 0x2; // bit 1 of RFLAGS is reserved and reads as 1
    vcpu.set_registers(regs);
    fmt::print("guest: {} ({} bytes) at {:#x}, real mode\n\n", guest_path, image.size(), load_address);

    // 5. The loop: run, look at why the guest stopped, emulate, run again.
    ExitCounter exits;
    std::string console;
    app::ArmedVcpu armed(vcpu); // lets the alarm handler set kvm_run.immediate_exit
    app::RunDeadline deadline(time_limit);
    auto start = std::chrono::steady_clock::now();
    for (;;) {
        VcpuExit exit = vcpu.run();
        exits.count(exit);
        fmt::print("exit {:>3}  {:<16} {}\n", exits.total(), exit_name(exit), describe_exit(exit));
        if (auto fatal = fatal_exit_message(exit)) {
            fmt::print(stderr, "vCPU registers:\n{}", vcpu.dump_registers());
            throw GuestError(*fatal);
        }
        if (std::holds_alternative<HaltExit>(exit))
            break;
        if (const auto* io = std::get_if<IoExit>(&exit)) {
            if (io->port == console_port && io->direction == AccessDirection::Write)
                console.append(io->data.begin(), io->data.end());
            else if (io->direction == AccessDirection::Read)
                std::memset(io->data.data(), 0xff, io->data.size()); // nothing there: the bus floats high
            continue;
        }
        if (const auto* mmio = std::get_if<MmioExit>(&exit)) {
            if (mmio->direction == AccessDirection::Read)
                std::memset(mmio->data.data(), 0xff, mmio->data.size());
            continue;
        }
        if (std::holds_alternative<InterruptedExit>(exit) && deadline.expired())
            throw GuestError(fmt::format("the guest did not halt within {} s", time_limit.count()));
        if (const auto* other = std::get_if<OtherExit>(&exit))
            throw GuestError(fmt::format("unexpected exit {}", exit_reason_name(other->reason)));
    }
    auto elapsed = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start);

    fmt::print("\nguest console: {}", console);
    if (console.empty() || console.back() != '\n')
        fmt::print("\n");
    fmt::print("exits: {}\n", exits.summary());
    fmt::print("time in the run loop: {:.0f} us ({:.1f} us per exit, printing included)\n", elapsed.count(), elapsed.count() / static_cast<double>(exits.total()));
    return 0;
}

int main(int argc, char** argv)
{
    return app::run_main("ch01_kvm_run", [&] {
        CLI::App cli { "Chapter 01: run a real-mode guest with a bare KVM_RUN loop", "ch01_kvm_run" };
        std::string guest = STEPVMM_DEFAULT_GUEST;
        unsigned timeout = 10;
        cli.add_option("--guest", guest, "flat real-mode binary loaded at 0x7c00")->capture_default_str();
        cli.add_option("--timeout", timeout, "seconds before a guest that does not halt is stopped")->capture_default_str();
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        return run(guest, std::chrono::seconds(timeout));
    });
}
