#pragma once
/// @file
/// Starting a stepvmm 64-bit guest and running it until it says it is done: loading the ELF
/// image, writing the boot info, entering long mode and serving ucalls. Chapters plug in what
/// is new to them through RunHooks.

#include <stepvmm/abi/guest_abi.h>
#include <stepvmm/boot/elf_loader.hpp>
#include <stepvmm/guest/ucall.hpp>
#include <stepvmm/io/bus.hpp>
#include <stepvmm/kvm/exit_counter.hpp>
#include <stepvmm/x86/long_mode.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace stepvmm {
class GuestMemory;
class Vcpu;
}

namespace stepvmm::guest {

/// Where the runner puts what it hands the guest.
inline constexpr std::uint64_t boot_info_address = 0x3000;

/// Chapter-specific words passed in stepvmm_boot_info::params.
using GuestParams = std::array<std::uint64_t, STEPVMM_MAX_PARAMS>;

/// Loads the ELF guest at @p image_path, writes the boot info, puts the vCPU in long mode at
/// the image's entry with RDI pointing at the boot info. Returns where the image landed.
boot::LoadedImage prepare_guest(Vcpu& vcpu, const GuestMemory& memory, const std::filesystem::path& image_path,
    const x86::LongModeConfig& long_mode, const GuestParams& params);

struct RunOutcome;

/// What a chapter adds to the run loop. Each hook is optional.
struct RunHooks {
    /// The guest reached a SYNC point (args[0] = stage); inspect the VM, then it resumes.
    std::function<void(std::uint64_t stage)> on_sync;
    /// An MMIO exit; return true if handled. Unhandled MMIO ends the run as a guest error.
    std::function<bool(const MmioExit&)> on_mmio;
    /// A non-ucall port access; return true if handled.
    std::function<bool(const IoExit&)> on_io;
    /// Called for every exit before it is handled (the --verbose trace).
    std::function<void(const VcpuExit&)> on_exit;
    /// Called for every console line the guest prints; default: print "guest: <line>".
    std::function<void(const std::string&)> on_print;
    /// KVM_RUN was interrupted by a signal (other than the deadline); sees the run so far.
    std::function<void(const RunOutcome&)> on_interrupted;

    /// Sets on_io and on_mmio to hand every port and MMIO exit to @p pio and @p mmio (which
    /// must outlive the run): the usual wiring once a chapter's devices live on buses.
    void dispatch_to(io::Bus& pio, io::Bus& mmio);
};

/// How a run ended.
struct RunOutcome {
    std::uint64_t guest_status = 0;                             ///< DONE's args[0]
    std::vector<std::pair<std::string, std::uint64_t>> reports; ///< REPORT ucalls in order
    ExitCounter exits;
    std::chrono::nanoseconds elapsed {};
    std::chrono::nanoseconds in_kvm_run {}; ///< inside the KVM_RUN ioctl: guest time plus KVM's own work
    std::chrono::nanoseconds handling {};   ///< in the VMM between two KVM_RUN calls: exit emulation

    /// The value of the first report called @p name, or std::nullopt.
    [[nodiscard]] std::optional<std::uint64_t> report(std::string_view name) const;
};

/// Runs the vCPU until the guest's DONE ucall. A guest assertion (FAIL), a fatal exit, an
/// exit nobody handles, or passing @p time_limit throws GuestError after printing the
/// registers to stderr.
RunOutcome run_until_done(Vcpu& vcpu, const GuestMemory& memory, const RunHooks& hooks, std::chrono::seconds time_limit);

} // namespace stepvmm::guest
