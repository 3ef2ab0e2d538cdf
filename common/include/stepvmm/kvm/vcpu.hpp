#pragma once
/// @file
/// A virtual CPU: its fd, its shared kvm_run page, its registers, and the KVM_RUN call.

#include <stepvmm/kvm/exit.hpp>
#include <stepvmm/os/mapping.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <cstdint>
#include <linux/kvm.h>
#include <optional>
#include <string>

namespace stepvmm {

/// One vCPU (KVM_CREATE_VCPU) with its kvm_run area mapped (api.rst §5).
class Vcpu {
public:
    Vcpu(UniqueFd fd, std::size_t run_area_size);

    [[nodiscard]] int fd() const { return m_fd.get(); }

    /// Enters the guest until the next exit and returns it typed. Data spans in the exit point
    /// into the kvm_run page and are valid until the next run().
    [[nodiscard]] VcpuExit run();

    [[nodiscard]] kvm_regs registers() const;
    void set_registers(const kvm_regs& registers);
    [[nodiscard]] kvm_sregs special_registers() const;
    void set_special_registers(const kvm_sregs& special_registers);

    /// KVM_SET_MSRS for one model-specific register.
    void set_msr(std::uint32_t index, std::uint64_t value);
    /// KVM_GET_MSRS for one model-specific register.
    [[nodiscard]] std::uint64_t msr(std::uint32_t index) const;

    /// KVM_GET_TSC_KHZ: the guest's TSC frequency, or std::nullopt where KVM cannot say.
    [[nodiscard]] std::optional<std::uint64_t> tsc_khz() const;

    /// The raw shared run area (for exits a chapter decodes itself).
    [[nodiscard]] kvm_run& run_area() const { return *reinterpret_cast<kvm_run*>(m_run_area.data()); }

    /// A multi-line dump of general-purpose, segment and control registers, for error reports.
    [[nodiscard]] std::string dump_registers() const;

private:
    UniqueFd m_fd;
    Mapping m_run_area;
};

} // namespace stepvmm
