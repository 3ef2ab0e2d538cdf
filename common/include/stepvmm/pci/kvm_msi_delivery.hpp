#pragma once
/// @file
/// MSI messages delivered by KVM: each vector gets a GSI whose route is an MSI (api.rst §4.52
/// KVM_SET_GSI_ROUTING) and an irqfd on that GSI (§4.75), so a device thread interrupts the
/// guest with one eventfd write — no ioctl, no VMM code on the vCPU thread.

#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/pci/msix.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace stepvmm::pci {

/// The VM's one GSI routing table: KVM_SET_GSI_ROUTING replaces the whole table, so every
/// MSI user in a VM must go through the same object.
class KvmMsiRoutes {
public:
    explicit KvmMsiRoutes(Vm& vm);
    /// Routes @p gsi (24 and up: 0-23 keep KVM's default IOAPIC/PIC routes) to @p message,
    /// or removes its route.
    void set(std::uint32_t gsi, std::optional<MsiMessage> message);

private:
    Vm& m_vm;
    std::mutex m_lock;
    std::map<std::uint32_t, MsiMessage> m_routes;
};

class KvmMsiDelivery final : public MsiDelivery {
public:
    /// Vectors 0 .. @p vector_count - 1 use GSIs @p first_gsi, @p first_gsi + 1, ...
    KvmMsiDelivery(Vm& vm, KvmMsiRoutes& routes, std::uint32_t first_gsi, std::uint16_t vector_count);
    ~KvmMsiDelivery() override;
    KvmMsiDelivery(const KvmMsiDelivery&) = delete;
    KvmMsiDelivery& operator=(const KvmMsiDelivery&) = delete;

    void configure(std::uint16_t vector, std::optional<MsiMessage> message) override;
    void signal(std::uint16_t vector) override;

private:
    Vm& m_vm;
    KvmMsiRoutes& m_routes;
    std::uint32_t m_first_gsi;
    std::vector<std::unique_ptr<EventFd>> m_irqfds;
};

} // namespace stepvmm::pci
