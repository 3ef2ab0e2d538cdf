#include <stepvmm/kvm/flex_array_ioctls.hpp>
#include <stepvmm/kvm/gsi_routing.hpp>

#include <cstring>

namespace stepvmm {

static constexpr std::uint32_t pic_pins = 8;
static constexpr std::uint32_t legacy_irqs = 16;
static constexpr std::uint32_t ioapic_pins = 24;

GsiRoutingTable GsiRoutingTable::pc_default()
{
    GsiRoutingTable table;
    for (std::uint32_t gsi = 0; gsi < ioapic_pins; ++gsi) {
        table.add_irqchip_route(gsi, IrqChip::IoApic, gsi);
        if (gsi < legacy_irqs)
            table.add_irqchip_route(gsi, gsi < pic_pins ? IrqChip::PicMaster : IrqChip::PicSlave, gsi % pic_pins);
    }
    return table;
}

GsiRoutingTable& GsiRoutingTable::add_irqchip_route(std::uint32_t gsi, IrqChip chip, std::uint32_t pin)
{
    kvm_irq_routing_entry entry {};
    entry.gsi = gsi;
    entry.type = KVM_IRQ_ROUTING_IRQCHIP;
    entry.u.irqchip.irqchip = static_cast<std::uint32_t>(chip);
    entry.u.irqchip.pin = pin;
    m_entries.push_back(entry);
    return *this;
}

GsiRoutingTable& GsiRoutingTable::add_msi_route(std::uint32_t gsi, std::uint64_t address, std::uint32_t data)
{
    kvm_irq_routing_entry entry {};
    entry.gsi = gsi;
    entry.type = KVM_IRQ_ROUTING_MSI;
    entry.u.msi.address_lo = static_cast<std::uint32_t>(address);
    entry.u.msi.address_hi = static_cast<std::uint32_t>(address >> 32);
    entry.u.msi.data = data;
    m_entries.push_back(entry);
    return *this;
}

std::vector<std::uint64_t> GsiRoutingTable::to_kvm_buffer() const
{
    std::size_t bytes = sizeof(kvm_abi::IrqRoutingHeader) + m_entries.size() * sizeof(kvm_irq_routing_entry);
    std::vector<std::uint64_t> buffer((bytes + 7) / 8, 0);
    kvm_abi::IrqRoutingHeader header { static_cast<std::uint32_t>(m_entries.size()), 0 };
    std::memcpy(buffer.data(), &header, sizeof(header));
    std::memcpy(reinterpret_cast<std::uint8_t*>(buffer.data()) + sizeof(header), m_entries.data(),
        m_entries.size() * sizeof(kvm_irq_routing_entry));
    return buffer;
}

MsiMessage msi_to_apic(std::uint8_t apic_id, std::uint8_t vector)
{
    // Address: 0xfee in bits 31:20, destination ID in 19:12, physical destination mode.
    // Data: vector in 7:0, delivery mode 000 (fixed), edge trigger.
    return { 0xfee00000ULL | (std::uint64_t { apic_id } << 12), vector };
}

} // namespace stepvmm
