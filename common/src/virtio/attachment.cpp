#include <stepvmm/app/log.hpp>
#include <stepvmm/virtio/attachment.hpp>

namespace stepvmm::virtio {

QueueKicks::QueueKicks(Vm& vm, EventLoop& loop, DeviceState& state)
    : m_vm(vm)
    , m_loop(loop)
{
    for (std::uint16_t queue = 0; queue < state.queue_count(); ++queue) {
        auto kick = std::make_unique<EventFd>();
        EventFd* raw = kick.get();
        m_loop.add(raw->fd(), [this, raw, queue, &state] {
            if (auto count = raw->consume()) {
                m_absorbed += *count;
                state.notify(queue);
            }
        });
        m_kicks.push_back(std::move(kick));
    }
}

QueueKicks::~QueueKicks()
{
    try {
        watch({});
    } catch (...) {
        // The VM is going away; KVM drops its ioeventfds with it.
    }
    for (auto& kick : m_kicks)
        m_loop.remove(kick->fd());
}

void QueueKicks::watch(const std::vector<IoEventFdMatch>& matches)
{
    for (std::size_t queue = 0; queue < m_watched.size(); ++queue)
        m_vm.unassign_ioeventfd(m_kicks[queue]->fd(), m_watched[queue]);
    m_watched.clear();
    for (std::size_t queue = 0; queue < matches.size() && queue < m_kicks.size(); ++queue) {
        m_vm.assign_ioeventfd(m_kicks[queue]->fd(), matches[queue]);
        m_watched.push_back(matches[queue]);
    }
}

MmioAttachment::MmioAttachment(Vm& vm, io::Bus& mmio_bus, EventLoop& loop, DeviceState& state, std::uint64_t base, std::uint32_t gsi)
    : m_line(vm, loop, gsi)
    , m_transport(state, m_line)
    , m_kicks(vm, loop, state)
    , m_base(base)
{
    mmio_bus.add(base, mmio::window_size, m_transport);
    m_kicks.watch(m_transport.notification_matches(base));
}

PciAttachment::PciAttachment(Vm& vm, io::Bus& mmio_bus, pci::HostBridge& host_bridge, std::uint8_t slot, EventLoop& loop,
    DeviceState& state, pci::KvmMsiRoutes& routes, std::uint32_t first_msi_gsi, std::uint32_t intx_gsi, std::uint64_t bar_address)
    : m_mmio_bus(mmio_bus)
    , m_msi(vm, routes, first_msi_gsi, static_cast<std::uint16_t>(state.queue_count() + 1))
    , m_intx(vm, loop, intx_gsi)
    , m_transport(state, m_msi, m_intx, static_cast<std::uint8_t>(intx_gsi))
    , m_kicks(vm, loop, state)
{
    m_transport.assign_bar_as_firmware(bar_address);
    host_bridge.attach(slot, m_transport);
    mmio_bus.add(bar_address, pci_layout::bar_size, m_transport.bar());
    m_kicks.watch(m_transport.notification_matches());
    m_transport.on_bar_change([this] { follow_bar(); });
}

void PciAttachment::follow_bar()
{
    // The guest moved BAR0 or switched decoding: move the bus range and the ioeventfds with it
    // (this runs on the vCPU thread, inside the configuration write's exit).
    auto address = m_transport.decoded_bar_address();
    try {
        m_mmio_bus.relocate(m_transport.bar(), address);
        m_kicks.watch(m_transport.notification_matches());
    } catch (const std::invalid_argument& error) {
        // A BAR placed on top of another device is the guest's mistake: stop decoding it.
        log::warning("{}: BAR0 at {:#x} not decoded: {}", m_transport.bar().name(), address.value_or(0), error.what());
        m_mmio_bus.relocate(m_transport.bar(), std::nullopt);
        m_kicks.watch({});
    }
}

} // namespace stepvmm::virtio
