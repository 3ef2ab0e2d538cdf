#pragma once
/// @file
/// Typed VM exits: what Vcpu::run() returns instead of a raw kvm_run::exit_reason.

#include <cstdint>
#include <optional>
#include <string>
#include <span>
#include <string_view>
#include <variant>

namespace stepvmm {

/// Direction of a port or MMIO access, seen from the guest.
enum class AccessDirection {
    Read,  ///< guest IN / MMIO load: the VMM fills data before the next run()
    Write, ///< guest OUT / MMIO store: data holds what the guest wrote
};

/// KVM_EXIT_IO (api.rst §5, "struct kvm_run"): a guest IN/OUT, possibly a string instruction
/// repeated @c count times; @c data holds size*count bytes inside the kvm_run page.
struct IoExit {
    AccessDirection direction;
    std::uint16_t port;
    std::uint8_t size;
    std::uint32_t count;
    std::span<std::uint8_t> data;
};

/// KVM_EXIT_MMIO: a guest access to a guest-physical address with no (writable) memory slot.
struct MmioExit {
    AccessDirection direction;
    std::uint64_t guest_physical_address;
    std::span<std::uint8_t> data;
};

/// KVM_EXIT_HLT: the guest executed HLT with interrupts that cannot wake it.
struct HaltExit { };

/// KVM_EXIT_SHUTDOWN: the guest triple-faulted (or asked for a reset).
struct ShutdownExit { };

/// KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the guest with this state.
struct FailEntryExit {
    std::uint64_t hardware_reason;
};

/// KVM_EXIT_INTERNAL_ERROR: KVM itself could not continue (e.g. an instruction it cannot emulate).
struct InternalErrorExit {
    std::uint32_t suberror;
};

/// KVM_RUN returned EINTR: a signal arrived; nothing happened in the guest.
struct InterruptedExit { };

/// Any exit reason this chapter does not model yet.
struct OtherExit {
    std::uint32_t reason;
};

/// One VM exit.
using VcpuExit = std::variant<IoExit, MmioExit, HaltExit, ShutdownExit, FailEntryExit,
    InternalErrorExit, InterruptedExit, OtherExit>;

/// The KVM_EXIT_* name of a raw exit reason ("KVM_EXIT_IO"), or "KVM_EXIT_<n>" if unknown.
[[nodiscard]] std::string exit_reason_name(std::uint32_t reason);

/// The KVM_EXIT_* name of a typed exit (InterruptedExit is "KVM_RUN -EINTR").
[[nodiscard]] std::string exit_name(const VcpuExit& exit);

/// The details of an exit on one line: "out port 0x3f8 size 1: 0x48 'H'", "write at 0xffff0000
/// size 1: 0x58"; empty for exits that carry no details.
[[nodiscard]] std::string describe_exit(const VcpuExit& exit);

/// For exits after which the guest cannot continue (SHUTDOWN, FAIL_ENTRY, INTERNAL_ERROR),
/// a sentence saying what happened; std::nullopt for exits a VMM handles and resumes from.
[[nodiscard]] std::optional<std::string> fatal_exit_message(const VcpuExit& exit);

} // namespace stepvmm
