#pragma once
/// @file
/// A virtio device plugged into a KVM machine: its transport on the right bus, every queue's
/// notification absorbed by an ioeventfd that a device thread's event loop serves, and its
/// interrupts raised from that thread without a VM exit. Chapters 06-08 plug devices in
/// through these two classes instead of repeating the wiring.

#include <stepvmm/io/bus.hpp>
#include <stepvmm/kvm/irq_line.hpp>
#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/event_loop.hpp>
#include <stepvmm/pci/host_bridge.hpp>
#include <stepvmm/pci/kvm_msi_delivery.hpp>
#include <stepvmm/virtio/device_state.hpp>
#include <stepvmm/virtio/mmio_transport.hpp>
#include <stepvmm/virtio/pci_transport.hpp>

#include <memory>
#include <vector>

namespace stepvmm::virtio {

/// One eventfd per queue, registered with KVM for the given matches and served by @p loop.
class QueueKicks {
public:
    QueueKicks(Vm& vm, EventLoop& loop, DeviceState& state);
    ~QueueKicks();
    QueueKicks(const QueueKicks&) = delete;
    QueueKicks& operator=(const QueueKicks&) = delete;

    /// Replaces the addresses KVM watches (none, to stop): queue i's eventfd gets matches[i].
    void watch(const std::vector<IoEventFdMatch>& matches);
    /// Notifications KVM absorbed (eventfd counts read by the device thread).
    [[nodiscard]] std::uint64_t absorbed() const { return m_absorbed.load(); }

private:
    Vm& m_vm;
    EventLoop& m_loop;
    std::vector<std::unique_ptr<EventFd>> m_kicks;
    std::vector<IoEventFdMatch> m_watched;
    std::atomic<std::uint64_t> m_absorbed { 0 };
};

/// virtio-mmio at a fixed address with a level-triggered interrupt on @p gsi: a resampling
/// irqfd, so neither raising it (device thread) nor lowering it (the guest's InterruptACK on
/// the vCPU thread) costs an ioctl.
class MmioAttachment {
public:
    MmioAttachment(Vm& vm, io::Bus& mmio_bus, EventLoop& loop, DeviceState& state, std::uint64_t base, std::uint32_t gsi);
    [[nodiscard]] MmioTransport& transport() { return m_transport; }
    [[nodiscard]] const QueueKicks& kicks() const { return m_kicks; }
    [[nodiscard]] std::uint64_t base() const { return m_base; }
    [[nodiscard]] const LevelIrqFdLine& interrupt_line() const { return m_line; }

private:
    LevelIrqFdLine m_line;
    MmioTransport m_transport;
    QueueKicks m_kicks;
    std::uint64_t m_base;
};

/// virtio-pci in slot @p slot of @p host_bridge, BAR0 assigned at @p bar_address as firmware
/// would; MSI-X vectors on GSIs from @p first_msi_gsi, INTx on @p intx_gsi (level-triggered,
/// a resampling irqfd served by @p loop). Follows the guest if it moves BAR0.
class PciAttachment {
public:
    PciAttachment(Vm& vm, io::Bus& mmio_bus, pci::HostBridge& host_bridge, std::uint8_t slot, EventLoop& loop, DeviceState& state,
        pci::KvmMsiRoutes& routes, std::uint32_t first_msi_gsi, std::uint32_t intx_gsi, std::uint64_t bar_address);
    [[nodiscard]] PciTransport& transport() { return m_transport; }
    [[nodiscard]] const QueueKicks& kicks() const { return m_kicks; }
    [[nodiscard]] const LevelIrqFdLine& intx_line() const { return m_intx; }

private:
    void follow_bar();

    io::Bus& m_mmio_bus;
    pci::KvmMsiDelivery m_msi;
    LevelIrqFdLine m_intx;
    PciTransport m_transport;
    QueueKicks m_kicks;
};

} // namespace stepvmm::virtio
