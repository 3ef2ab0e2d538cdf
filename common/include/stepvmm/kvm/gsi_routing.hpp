#pragma once
/// @file
/// The GSI routing table: where each global system interrupt number goes — a pin of one of
/// the in-kernel interrupt controllers, or an MSI message straight to a local APIC
/// (api.rst §4.52, KVM_SET_GSI_ROUTING). irqfds and KVM_IRQ_LINE name GSIs; this table says
/// what a GSI means.

#include <cstdint>
#include <linux/kvm.h>
#include <vector>

namespace stepvmm {

/// KVM's names for the in-kernel interrupt controllers (struct kvm_irq_routing_irqchip).
enum class IrqChip : std::uint32_t {
    PicMaster = KVM_IRQCHIP_PIC_MASTER, ///< 8259 #1: IRQ 0-7
    PicSlave = KVM_IRQCHIP_PIC_SLAVE,   ///< 8259 #2: IRQ 8-15, cascaded on master IRQ 2
    IoApic = KVM_IRQCHIP_IOAPIC,        ///< 24 pins
};

/// A routing table under construction.
class GsiRoutingTable {
public:
    /// The table KVM installs with KVM_CREATE_IRQCHIP (virt/kvm/irqchip.c and
    /// arch/x86/kvm/irq_comm.c, default_routing): GSI 0-15 to both the PICs and the IOAPIC
    /// pin of the same number, GSI 16-23 to the IOAPIC only. Replacing the table with
    /// KVM_SET_GSI_ROUTING drops these unless they are included again.
    [[nodiscard]] static GsiRoutingTable pc_default();

    /// Routes @p gsi to @p pin of @p chip. A GSI may have several routes (one per chip).
    GsiRoutingTable& add_irqchip_route(std::uint32_t gsi, IrqChip chip, std::uint32_t pin);

    /// Routes @p gsi to an MSI: a 32-bit write of @p data to @p address (Intel SDM Vol. 3A
    /// §11.11: address 0xfee0_0000 | destination APIC ID << 12, data = vector | delivery mode).
    GsiRoutingTable& add_msi_route(std::uint32_t gsi, std::uint64_t address, std::uint32_t data);

    [[nodiscard]] const std::vector<kvm_irq_routing_entry>& entries() const { return m_entries; }

    /// The table as the kernel reads it: a struct kvm_irq_routing header followed by the
    /// entries, in 8-byte words (see flex_array_ioctls.hpp for why not the uapi struct).
    [[nodiscard]] std::vector<std::uint64_t> to_kvm_buffer() const;

private:
    std::vector<kvm_irq_routing_entry> m_entries;
};

/// The MSI address and data that deliver @p vector to the local APIC with ID @p apic_id,
/// fixed delivery, edge-triggered (SDM Vol. 3A §11.11.1, §11.11.2).
struct MsiMessage {
    std::uint64_t address;
    std::uint32_t data;
};
[[nodiscard]] MsiMessage msi_to_apic(std::uint8_t apic_id, std::uint8_t vector);

} // namespace stepvmm
