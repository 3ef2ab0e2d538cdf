#pragma once
/// @file
/// Getting a vCPU thread's attention from a signal handler. Setting kvm_run.immediate_exit
/// (api.rst §5, KVM_CAP_IMMEDIATE_EXIT) makes the next KVM_RUN return -EINTR at once, so a
/// signal that lands while the VMM is between two KVM_RUN calls is not missed; one that lands
/// inside KVM_RUN interrupts it anyway. Firecracker kicks its vCPUs the same way.

namespace stepvmm {
class Vcpu;
}

namespace stepvmm::app {

/// Makes @p vcpu the one kick_vcpu_from_signal_handler() kicks, while alive.
class ArmedVcpu {
public:
    explicit ArmedVcpu(Vcpu& vcpu);
    ~ArmedVcpu();
    ArmedVcpu(const ArmedVcpu&) = delete;
    ArmedVcpu& operator=(const ArmedVcpu&) = delete;
};

/// Async-signal-safe: sets immediate_exit on the armed vCPU, if any.
void kick_vcpu_from_signal_handler();

} // namespace stepvmm::app
