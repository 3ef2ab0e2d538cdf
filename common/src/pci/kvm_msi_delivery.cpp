#include <stepvmm/pci/kvm_msi_delivery.hpp>

namespace stepvmm::pci {

KvmMsiRoutes::KvmMsiRoutes(Vm& vm)
    : m_vm(vm)
{
}

void KvmMsiRoutes::set(std::uint32_t gsi, std::optional<MsiMessage> message)
{
    std::lock_guard guard(m_lock);
    if (message)
        m_routes[gsi] = *message;
    else
        m_routes.erase(gsi);
    GsiRoutingTable table = GsiRoutingTable::pc_default();
    for (const auto& [route_gsi, route] : m_routes)
        table.add_msi_route(route_gsi, route.address, route.data);
    m_vm.set_gsi_routing(table);
}

KvmMsiDelivery::KvmMsiDelivery(Vm& vm, KvmMsiRoutes& routes, std::uint32_t first_gsi, std::uint16_t vector_count)
    : m_vm(vm)
    , m_routes(routes)
    , m_first_gsi(first_gsi)
{
    for (std::uint16_t vector = 0; vector < vector_count; ++vector) {
        m_irqfds.push_back(std::make_unique<EventFd>());
        m_vm.assign_irqfd(m_irqfds.back()->fd(), m_first_gsi + vector);
    }
}

KvmMsiDelivery::~KvmMsiDelivery()
{
    for (std::size_t vector = 0; vector < m_irqfds.size(); ++vector) {
        try {
            m_vm.unassign_irqfd(m_irqfds[vector]->fd(), m_first_gsi + static_cast<std::uint32_t>(vector));
        } catch (...) {
            // The VM is going away anyway; a destructor must not throw.
        }
    }
}

void KvmMsiDelivery::configure(std::uint16_t vector, std::optional<MsiMessage> message)
{
    if (vector < m_irqfds.size())
        m_routes.set(m_first_gsi + vector, message);
}

void KvmMsiDelivery::signal(std::uint16_t vector)
{
    if (vector < m_irqfds.size())
        m_irqfds[vector]->signal();
}

} // namespace stepvmm::pci
