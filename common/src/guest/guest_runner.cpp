#include <stepvmm/app/run_deadline.hpp>
#include <stepvmm/app/vcpu_kick.hpp>
#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/guest/timed_run.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/file.hpp>

#include <cstdio>
#include <fmt/format.h>

namespace stepvmm::guest {

// stepvmm guests are small; anything larger is not one of ours.
static constexpr std::uint64_t guest_image_size_limit = 64ULL << 20;

static stepvmm_boot_info make_boot_info(const GuestMemory& memory, const boot::LoadedImage& image, const GuestParams& params)
{
    stepvmm_boot_info info {};
    info.magic = STEPVMM_BOOT_INFO_MAGIC;
    info.version = STEPVMM_BOOT_INFO_VERSION;
    for (const GuestRegion& region : memory.regions()) {
        if (info.region_count == STEPVMM_MAX_RAM_REGIONS)
            break;
        info.regions[info.region_count++] = { region.range.guest_physical_address, region.range.size };
    }
    // Round up to a page so the guest can hand out whole pages from here.
    info.free_low_ram = (image.highest_gpa + 0xfff) & ~std::uint64_t { 0xfff };
    std::copy(params.begin(), params.end(), info.params);
    return info;
}

boot::LoadedImage prepare_guest(Vcpu& vcpu, const GuestMemory& memory, const std::filesystem::path& image_path,
    const x86::LongModeConfig& long_mode, const GuestParams& params)
{
    auto image = read_whole_file(image_path, guest_image_size_limit);
    auto loaded = boot::load_elf64(memory, image, image_path.string());
    auto info = make_boot_info(memory, loaded, params);
    info.tsc_khz = vcpu.tsc_khz().value_or(0);
    memory.write(boot_info_address, info);
    x86::enter_long_mode(vcpu, memory, long_mode);

    kvm_regs registers {};
    registers.rip = loaded.entry;
    registers.rdi = boot_info_address;
    registers.rflags = 0x2; // bit 1 is reserved and must be set; interrupts off
    vcpu.set_registers(registers);
    return loaded;
}

std::optional<std::uint64_t> RunOutcome::report(std::string_view name) const
{
    for (const auto& [key, value] : reports) {
        if (key == name)
            return value;
    }
    return std::nullopt;
}

[[noreturn]] static void fail(const Vcpu& vcpu, const std::string& message)
{
    std::fflush(stdout);
    fmt::print(stderr, "vCPU registers at the failure:\n{}", vcpu.dump_registers());
    throw GuestError(message);
}

static bool handle_ucall(const Ucall& ucall, const RunHooks& hooks, RunOutcome& outcome)
{
    switch (ucall.command) {
    case UcallCommand::Print:
        if (hooks.on_print)
            hooks.on_print(ucall.text);
        else
            fmt::print("guest: {}\n", ucall.text);
        return false;
    case UcallCommand::Sync:
        if (hooks.on_sync)
            hooks.on_sync(ucall.args[0]);
        return false;
    case UcallCommand::Report:
        outcome.reports.emplace_back(ucall.text, ucall.args[0]);
        return false;
    case UcallCommand::Fail:
        throw GuestError(fmt::format("guest assertion failed: {}", ucall.text));
    case UcallCommand::Done:
        outcome.guest_status = ucall.args[0];
        return true;
    }
    return false;
}

void RunHooks::dispatch_to(io::Bus& pio, io::Bus& mmio)
{
    on_io = [&pio](const IoExit& exit) {
        pio.dispatch(exit);
        return true;
    };
    on_mmio = [&mmio](const MmioExit& exit) {
        mmio.access(exit.direction, exit.guest_physical_address, exit.data);
        return true;
    };
}

RunOutcome run_until_done(Vcpu& vcpu, const GuestMemory& memory, const RunHooks& hooks, std::chrono::seconds time_limit)
{
    RunOutcome outcome;
    app::ArmedVcpu armed(vcpu);
    app::RunDeadline deadline(time_limit);
    TimedRun timed(vcpu, outcome);
    for (;;) {
        VcpuExit exit = timed.run();
        if (hooks.on_exit)
            hooks.on_exit(exit);
        if (auto message = fatal_exit_message(exit))
            fail(vcpu, *message);
        if (const auto* io = std::get_if<IoExit>(&exit)) {
            if (auto ucall = decode_ucall(memory, *io)) {
                if (handle_ucall(*ucall, hooks, outcome))
                    break;
                continue;
            }
            if (hooks.on_io && hooks.on_io(*io))
                continue;
            fail(vcpu, fmt::format("unhandled port {} {:#x} (size {})",
                io->direction == AccessDirection::Write ? "write to" : "read from", io->port, io->size));
        }
        if (const auto* mmio = std::get_if<MmioExit>(&exit)) {
            if (hooks.on_mmio && hooks.on_mmio(*mmio))
                continue;
            fail(vcpu, fmt::format("unhandled MMIO {} at {:#x} (no RAM or device there)",
                mmio->direction == AccessDirection::Write ? "write" : "read", mmio->guest_physical_address));
        }
        if (std::holds_alternative<InterruptedExit>(exit)) {
            if (deadline.expired())
                fail(vcpu, fmt::format("the guest was still running after {} s; stopped it", time_limit.count()));
            if (hooks.on_interrupted)
                hooks.on_interrupted(outcome);
            continue;
        }
        if (std::holds_alternative<HaltExit>(exit))
            fail(vcpu, "the guest halted without saying it was done (HLT with interrupts off)");
        if (const auto* other = std::get_if<OtherExit>(&exit))
            fail(vcpu, fmt::format("unexpected exit {} ({})", exit_reason_name(other->reason), other->reason));
    }
    timed.finish();
    return outcome;
}

} // namespace stepvmm::guest
