// The GSI routing table: KVM's default PC routing rebuilt exactly, MSI entries encoded as the
// SDM says, and the buffer laid out as KVM_SET_GSI_ROUTING reads it (header of 8 bytes — not
// the 16 the broken C++ uapi struct would give — then the entries).

#include <catch2/catch.hpp>

#include <stepvmm/kvm/gsi_routing.hpp>

#include <cstring>
#include <set>
#include <tuple>

using namespace stepvmm;

TEST_CASE("pc_default routes GSI 0-15 to a PIC and the IOAPIC, GSI 16-23 to the IOAPIC only", "[gsi_routing]")
{
    auto table = GsiRoutingTable::pc_default();
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>> routes; // gsi, chip, pin
    for (const auto& entry : table.entries()) {
        REQUIRE(entry.type == KVM_IRQ_ROUTING_IRQCHIP);
        routes.emplace(entry.gsi, entry.u.irqchip.irqchip, entry.u.irqchip.pin);
    }
    CHECK(table.entries().size() == 24 + 16);
    CHECK(routes.size() == 24 + 16);
    for (std::uint32_t gsi = 0; gsi < 24; ++gsi)
        CHECK(routes.count({ gsi, KVM_IRQCHIP_IOAPIC, gsi }) == 1);
    for (std::uint32_t gsi = 0; gsi < 8; ++gsi)
        CHECK(routes.count({ gsi, KVM_IRQCHIP_PIC_MASTER, gsi }) == 1);
    for (std::uint32_t gsi = 8; gsi < 16; ++gsi)
        CHECK(routes.count({ gsi, KVM_IRQCHIP_PIC_SLAVE, gsi - 8 }) == 1);
}

TEST_CASE("an MSI route carries the split address and the data", "[gsi_routing]")
{
    GsiRoutingTable table;
    table.add_msi_route(24, 0x1'fee0'1000ULL, 0x4041);
    REQUIRE(table.entries().size() == 1);
    const auto& entry = table.entries().front();
    CHECK(entry.gsi == 24);
    CHECK(entry.type == KVM_IRQ_ROUTING_MSI);
    CHECK(entry.u.msi.address_lo == 0xfee01000u);
    CHECK(entry.u.msi.address_hi == 0x1u);
    CHECK(entry.u.msi.data == 0x4041u);
}

TEST_CASE("msi_to_apic encodes destination and vector as SDM 11.11 describes", "[gsi_routing]")
{
    auto message = msi_to_apic(3, 0x41);
    CHECK(message.address == 0xfee03000ULL);
    CHECK(message.data == 0x41u); // fixed delivery, edge trigger: only the vector bits
    CHECK(msi_to_apic(0, 0xff).address == 0xfee00000ULL);
}

TEST_CASE("the KVM buffer is an 8-byte header followed by the entries", "[gsi_routing]")
{
    GsiRoutingTable table;
    table.add_irqchip_route(5, IrqChip::PicMaster, 5).add_msi_route(30, 0xfee00000, 0x50);
    auto buffer = table.to_kvm_buffer();
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(buffer.data());
    std::uint32_t count = 0;
    std::memcpy(&count, bytes, sizeof(count));
    CHECK(count == 2);
    REQUIRE(buffer.size() * 8 >= 8 + 2 * sizeof(kvm_irq_routing_entry));
    kvm_irq_routing_entry second {};
    std::memcpy(&second, bytes + 8 + sizeof(kvm_irq_routing_entry), sizeof(second));
    CHECK(second.gsi == 30);
    CHECK(second.type == KVM_IRQ_ROUTING_MSI);
    CHECK(second.u.msi.data == 0x50u);
}
