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

} // namespace stepvmm
