#include <stepvmm/app/vcpu_kick.hpp>
#include <stepvmm/kvm/vcpu.hpp>

#include <atomic>

namespace stepvmm::app {

static std::atomic<kvm_run*> armed_run_area { nullptr };

ArmedVcpu::ArmedVcpu(Vcpu& vcpu) { armed_run_area.store(&vcpu.run_area()); }

ArmedVcpu::~ArmedVcpu() { armed_run_area.store(nullptr); }

void kick_vcpu_from_signal_handler()
{
    if (kvm_run* run = armed_run_area.load())
        run->immediate_exit = 1;
}

} // namespace stepvmm::app
