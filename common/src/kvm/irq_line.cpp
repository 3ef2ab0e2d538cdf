#include <stepvmm/kvm/irq_line.hpp>
#include <stepvmm/kvm/vm.hpp>

namespace stepvmm {

KvmIrqLine::KvmIrqLine(Vm& vm, std::uint32_t gsi)
    : m_vm(vm)
    , m_gsi(gsi)
{
}

void KvmIrqLine::set_level(bool asserted)
{
    if (asserted == m_level)
        return; // KVM_IRQ_LINE costs a system call; only changes matter
    m_level = asserted;
    if (asserted)
        ++m_raised;
    m_vm.set_irq_line(m_gsi, asserted);
}

IrqFdLine::IrqFdLine(Vm& vm, std::uint32_t gsi)
    : m_vm(vm)
    , m_gsi(gsi)
{
    m_vm.assign_irqfd(m_event.fd(), m_gsi);
}

IrqFdLine::~IrqFdLine()
{
    try {
        m_vm.unassign_irqfd(m_event.fd(), m_gsi);
    } catch (const std::exception&) {
        // Closing the VM releases the irqfd anyway; a destructor must not throw.
    }
}

void IrqFdLine::set_level(bool asserted)
{
    bool was = m_level.exchange(asserted);
    if (asserted && !was) {
        ++m_raised;
        m_event.signal();
    }
}

LevelIrqFdLine::LevelIrqFdLine(Vm& vm, EventLoop& loop, std::uint32_t gsi)
    : m_vm(vm)
    , m_loop(loop)
    , m_gsi(gsi)
{
    m_vm.assign_resampling_irqfd(m_trigger.fd(), m_resample.fd(), m_gsi);
    try {
        m_loop.add(m_resample.fd(), [this] { resample(); });
    } catch (...) {
        m_vm.unassign_irqfd(m_trigger.fd(), m_gsi);
        throw;
    }
}

LevelIrqFdLine::~LevelIrqFdLine()
{
    try {
        m_loop.remove(m_resample.fd()); // after this, resample() is not running and never will
        m_vm.unassign_irqfd(m_trigger.fd(), m_gsi);
    } catch (const std::exception&) {
        // Closing the VM releases the irqfd anyway; a destructor must not throw.
    }
}

void LevelIrqFdLine::set_level(bool asserted)
{
    // Only the rising edge needs KVM: KVM lowers the GSI itself at the guest's EOI.
    bool was = m_level.exchange(asserted);
    if (asserted && !was) {
        ++m_raised;
        m_trigger.signal();
    }
}

void LevelIrqFdLine::resample()
{
    auto count = m_resample.consume();
    if (!count)
        return;
    m_resamples += *count;
    // KVM has just lowered the GSI. A device still asserting its level gets it raised again,
    // exactly as a real level-triggered line would still be high after the EOI.
    if (m_level.load()) {
        ++m_reraised;
        m_trigger.signal();
    }
}

} // namespace stepvmm
