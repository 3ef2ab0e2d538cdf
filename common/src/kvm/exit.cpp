#include <stepvmm/kvm/exit.hpp>

#include <array>
#include <fmt/format.h>
#include <linux/kvm.h>
#include <utility>

namespace stepvmm {

std::string exit_reason_name(std::uint32_t reason)
{
    static constexpr std::array<std::pair<std::uint32_t, std::string_view>, 16> names { {
        { KVM_EXIT_UNKNOWN, "KVM_EXIT_UNKNOWN" },
        { KVM_EXIT_EXCEPTION, "KVM_EXIT_EXCEPTION" },
        { KVM_EXIT_IO, "KVM_EXIT_IO" },
        { KVM_EXIT_HYPERCALL, "KVM_EXIT_HYPERCALL" },
        { KVM_EXIT_DEBUG, "KVM_EXIT_DEBUG" },
        { KVM_EXIT_HLT, "KVM_EXIT_HLT" },
        { KVM_EXIT_MMIO, "KVM_EXIT_MMIO" },
        { KVM_EXIT_IRQ_WINDOW_OPEN, "KVM_EXIT_IRQ_WINDOW_OPEN" },
        { KVM_EXIT_SHUTDOWN, "KVM_EXIT_SHUTDOWN" },
        { KVM_EXIT_FAIL_ENTRY, "KVM_EXIT_FAIL_ENTRY" },
        { KVM_EXIT_INTR, "KVM_EXIT_INTR" },
        { KVM_EXIT_SET_TPR, "KVM_EXIT_SET_TPR" },
        { KVM_EXIT_TPR_ACCESS, "KVM_EXIT_TPR_ACCESS" },
        { KVM_EXIT_NMI, "KVM_EXIT_NMI" },
        { KVM_EXIT_INTERNAL_ERROR, "KVM_EXIT_INTERNAL_ERROR" },
        { KVM_EXIT_SYSTEM_EVENT, "KVM_EXIT_SYSTEM_EVENT" },
    } };
    for (const auto& [value, name] : names) {
        if (value == reason)
            return std::string(name);
    }
    return fmt::format("KVM_EXIT_{}", reason);
}

std::string exit_name(const VcpuExit& exit)
{
    struct Namer {
        std::string operator()(const IoExit&) const { return "KVM_EXIT_IO"; }
        std::string operator()(const MmioExit&) const { return "KVM_EXIT_MMIO"; }
        std::string operator()(const HaltExit&) const { return "KVM_EXIT_HLT"; }
        std::string operator()(const ShutdownExit&) const { return "KVM_EXIT_SHUTDOWN"; }
        std::string operator()(const FailEntryExit&) const { return "KVM_EXIT_FAIL_ENTRY"; }
        std::string operator()(const InternalErrorExit&) const { return "KVM_EXIT_INTERNAL_ERROR"; }
        std::string operator()(const InterruptedExit&) const { return "KVM_RUN -EINTR"; }
        std::string operator()(const OtherExit& other) const { return exit_reason_name(other.reason); }
    };
    return std::visit(Namer {}, exit);
}

static std::string describe_bytes(std::span<const std::uint8_t> data)
{
    if (data.size() == 1) {
        char c = static_cast<char>(data[0]);
        if (c == '\n')
            return fmt::format("{:#04x} '\\n'", data[0]);
        if (c >= 0x20 && c < 0x7f)
            return fmt::format("{:#04x} '{}'", data[0], c);
    }
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < data.size() && i < sizeof(value); ++i)
        value |= std::uint64_t { data[i] } << (8 * i); // x86 is little-endian
    return fmt::format("{:#x}", value);
}

std::string describe_exit(const VcpuExit& exit)
{
    if (const auto* io = std::get_if<IoExit>(&exit)) {
        bool write = io->direction == AccessDirection::Write;
        std::string text = fmt::format("{} port {:#x} size {}", write ? "out" : "in", io->port, io->size);
        if (io->count > 1)
            text += fmt::format(" count {}", io->count);
        if (write && io->count == 1)
            text += ": " + describe_bytes(io->data);
        return text;
    }
    if (const auto* mmio = std::get_if<MmioExit>(&exit)) {
        bool write = mmio->direction == AccessDirection::Write;
        std::string text = fmt::format("{} at {:#x} size {}", write ? "write" : "read", mmio->guest_physical_address, mmio->data.size());
        if (write)
            text += ": " + describe_bytes(mmio->data);
        return text;
    }
    return "";
}

static std::string_view internal_error_name(std::uint32_t suberror)
{
    switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
        return "KVM's instruction emulator met an instruction it cannot run";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
        return "an exception happened while delivering another";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
        return "an event could not be delivered to the guest";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
        return "the hardware reported an exit reason KVM does not know";
    default:
        return "unknown internal error";
    }
}

std::optional<std::string> fatal_exit_message(const VcpuExit& exit)
{
    if (std::holds_alternative<ShutdownExit>(exit))
        return std::string("KVM_EXIT_SHUTDOWN: the guest triple-faulted (an exception it could not handle)");
    if (const auto* failure = std::get_if<FailEntryExit>(&exit))
        return fmt::format("KVM_EXIT_FAIL_ENTRY: the CPU refused to enter the guest (hardware reason {:#x}); the vCPU state is invalid",
            failure->hardware_reason);
    if (const auto* internal = std::get_if<InternalErrorExit>(&exit))
        return fmt::format("KVM_EXIT_INTERNAL_ERROR (suberror {}): {}", internal->suberror, internal_error_name(internal->suberror));
    return std::nullopt;
}

} // namespace stepvmm
