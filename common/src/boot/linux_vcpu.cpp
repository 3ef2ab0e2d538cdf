#include <stepvmm/boot/linux_vcpu.hpp>
#include <stepvmm/kvm/cpuid.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/os/ioctl.hpp>

#include <cerrno>
#include <fmt/format.h>
#include <linux/kvm.h>

namespace stepvmm::boot {

// ENOTTY: this KVM does not know the ioctl at all. Both ioctls exist for VMX's real-mode
// emulation alone; kvm_intel, kvm_amd and kvm_pvm all accept them, but a backend without them
// needs neither, so only that one answer is tolerated.
static bool means_not_implemented(int error_number)
{
    return error_number == ENOTTY;
}

VmSetupNotes prepare_linux_vm(Vm& vm)
{
    VmSetupNotes notes;
    try {
        STEPVMM_IOCTL(vm.fd(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(kvm_tss_address));
    } catch (const SystemError& error) {
        // Only VMX needs a TSS for its real-mode emulation; kvm_pvm has no such thing.
        if (!means_not_implemented(error.error_number()))
            throw;
        notes.skipped.push_back(fmt::format("KVM_SET_TSS_ADDR not used by this KVM ({})", error.what()));
    }
    try {
        std::uint64_t address = kvm_identity_map_address;
        STEPVMM_IOCTL(vm.fd(), KVM_SET_IDENTITY_MAP_ADDR, &address);
    } catch (const SystemError& error) {
        if (!means_not_implemented(error.error_number()))
            throw;
        notes.skipped.push_back(fmt::format("KVM_SET_IDENTITY_MAP_ADDR not used by this KVM ({})", error.what()));
    }
    return notes;
}

CpuidTable linux_cpuid(const CpuidTable& supported, unsigned apic_id)
{
    std::vector<kvm_cpuid_entry2> entries = supported.entries();
    for (kvm_cpuid_entry2& entry : entries) {
        switch (entry.function) {
        case 0x1:
            // SDM Vol. 2A, CPUID leaf 01H: EBX[31:24] is the initial APIC id; ECX[31] is
            // reserved for hypervisors to say they are there.
            entry.ebx = (entry.ebx & 0x00ffffff) | ((apic_id & 0xff) << 24);
            entry.ecx |= 1U << 31;
            break;
        case 0xb:
        case 0x1f:
            // Extended topology: EDX is the x2APIC id of the asking CPU, in every sub-leaf.
            entry.edx = apic_id;
            break;
        default:
            break;
        }
    }
    return CpuidTable(std::move(entries));
}

void configure_linux_vcpu(Vcpu& vcpu, const CpuidTable& supported, unsigned apic_id)
{
    linux_cpuid(supported, apic_id).apply_to(vcpu);
    vcpu.set_msr(msr_ia32_misc_enable, misc_enable_fast_strings);
}

} // namespace stepvmm::boot
