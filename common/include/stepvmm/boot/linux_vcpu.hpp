#pragma once
/// @file
/// The VM and vCPU set-up a Linux guest needs beyond what stepvmm's own guests use: a CPUID
/// table that tells each vCPU its APIC id, the MSRs firmware would have set, and the two
/// addresses KVM wants on Intel hosts (KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR).

#include <cstdint>
#include <string>
#include <vector>

namespace stepvmm {
class CpuidTable;
class Vcpu;
class Vm;
}

namespace stepvmm::boot {

/// Guest-physical pages KVM may use for itself on VMX (api.rst §4.44 KVM_SET_TSS_ADDR: three
/// pages; §4.52 KVM_SET_IDENTITY_MAP_ADDR: one page). They sit in the 32-bit device hole,
/// below the BIOS area, where no RAM or device of ours lives — 0xfffbc000 is also KVM's own default for the identity map.
inline constexpr std::uint64_t kvm_tss_address = 0xfffbd000;
inline constexpr std::uint64_t kvm_identity_map_address = 0xfffbc000;

/// IA32_MISC_ENABLE (SDM Vol. 4, Table 2-2) and its fast-strings bit, which firmware sets
/// and Linux expects (it warns and runs REP MOVS slowly otherwise).
inline constexpr std::uint32_t msr_ia32_misc_enable = 0x1a0;
inline constexpr std::uint64_t misc_enable_fast_strings = 1;

/// What prepare_linux_vm() could not do, one sentence each (empty when all went through).
struct VmSetupNotes {
    std::vector<std::string> skipped;
};

/// KVM_SET_TSS_ADDR and KVM_SET_IDENTITY_MAP_ADDR, before any vCPU exists. Both matter only
/// to VMX without unrestricted guest; a KVM that does not implement them (ENOTTY) is noted, not an error. Call before Vm::create_irqchip()/create_vcpu().
VmSetupNotes prepare_linux_vm(Vm& vm);

/// @p supported with what one vCPU of an @p cpu_count machine must see: its APIC id in
/// CPUID.1:EBX[31:24] and the x2APIC id in leaves 0xB/0x1F EDX, and the hypervisor bit
/// (CPUID.1:ECX[31]), so Linux looks for KVM's paravirtual leaves.
[[nodiscard]] CpuidTable linux_cpuid(const CpuidTable& supported, unsigned apic_id);

/// Applies linux_cpuid() and sets IA32_MISC_ENABLE.FAST_STRINGS on @p vcpu (its APIC id is
/// its vCPU id, as KVM's in-kernel local APIC assumes).
void configure_linux_vcpu(Vcpu& vcpu, const CpuidTable& supported, unsigned apic_id);

} // namespace stepvmm::boot
