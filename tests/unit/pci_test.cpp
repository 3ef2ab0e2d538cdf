// PCI configuration mechanism #1, the type 0 header with BAR sizing, capability lists and
// MSI-X (PCI Local Bus 3.0 §3.2.2.3.2, §6.1, §6.2.5.1, §6.7, §6.8.2), as a guest's firmware
// or OS drives them through ports 0xCF8/0xCFC.

#include <stepvmm/pci/host_bridge.hpp>
#include <stepvmm/pci/msix.hpp>

#include <catch2/catch.hpp>
#include <recording_msi.hpp>
#include <cstring>
#include <map>

using namespace stepvmm;
using namespace stepvmm::pci;

namespace {

class SimpleFunction final : public Function {
public:
    SimpleFunction()
        : config(Identity { 0x1af4, 0x1042, 0x018000, 1, 0x1af4, 0x40 })
    {
        config.add_memory_bar64(0, 0x8000);
        std::array<std::uint8_t, 2> body { 0x12, 0x34 };
        first_capability = config.add_capability(0x09, body);
        second_capability = config.add_capability(0x11, std::array<std::uint8_t, 10> {});
        config.on_memory_map_change = [this] { ++map_changes; };
    }
    void read_config(std::uint16_t offset, std::span<std::uint8_t> data) override { config.read(offset, data); }
    void write_config(std::uint16_t offset, std::span<const std::uint8_t> data) override { config.write(offset, data); }
    ConfigSpace config;
    std::uint8_t first_capability, second_capability;
    unsigned map_changes = 0;
};

// The guest's side of mechanism #1.
struct Cf8 {
    HostBridge& bridge;
    void select(unsigned device, unsigned offset)
    {
        std::uint32_t address = 0x80000000U | device << 11 | (offset & 0xfc);
        bridge.write(0, std::span(reinterpret_cast<const std::uint8_t*>(&address), 4));
    }
    std::uint32_t read32(unsigned device, unsigned offset)
    {
        select(device, offset);
        std::uint32_t value;
        bridge.read(4, std::span(reinterpret_cast<std::uint8_t*>(&value), 4));
        return value;
    }
    std::uint8_t read8(unsigned device, unsigned offset)
    {
        select(device, offset);
        std::uint8_t value;
        bridge.read(4 + (offset & 3), std::span(&value, 1));
        return value;
    }
    void write32(unsigned device, unsigned offset, std::uint32_t value)
    {
        select(device, offset);
        bridge.write(4, std::span(reinterpret_cast<const std::uint8_t*>(&value), 4));
    }
};


} // namespace

TEST_CASE("mechanism #1 finds the host bridge and an attached function, and nothing elsewhere", "[pci]")
{
    HostBridge bridge;
    SimpleFunction function;
    bridge.attach(3, function);
    Cf8 guest { bridge };
    CHECK(guest.read32(0, 0x08) >> 8 == 0x060000); // class: host bridge
    CHECK(guest.read32(3, 0) == 0x10421af4);
    CHECK(guest.read8(3, 0x02) == 0x42);
    CHECK(guest.read32(4, 0) == 0xffffffff); // an empty slot: master abort
    // With the enable bit clear nothing is selected.
    std::uint32_t disabled = 3 << 11;
    bridge.write(0, std::span(reinterpret_cast<const std::uint8_t*>(&disabled), 4));
    std::uint32_t value = 0;
    bridge.read(4, std::span(reinterpret_cast<std::uint8_t*>(&value), 4));
    CHECK(value == 0xffffffff);
    CHECK_THROWS_AS(bridge.attach(3, function), std::invalid_argument);
    CHECK_THROWS_AS(bridge.attach(0, function), std::invalid_argument);
}

TEST_CASE("a 64-bit BAR reports its size to the all-ones probe and takes an address", "[pci]")
{
    HostBridge bridge;
    SimpleFunction function;
    bridge.attach(1, function);
    Cf8 guest { bridge };
    CHECK((guest.read32(1, 0x10) & 0x7) == 0x4); // memory, 64-bit
    guest.write32(1, 0x10, 0xffffffff);
    guest.write32(1, 0x14, 0xffffffff);
    CHECK(guest.read32(1, 0x10) == (~0x7fffU | 0x4));
    CHECK(guest.read32(1, 0x14) == 0xffffffff);
    guest.write32(1, 0x10, 0xe0000000);
    guest.write32(1, 0x14, 0x1);
    CHECK(function.config.bar_address(0) == 0x1e0000000ULL);
    CHECK(function.map_changes == 4);
    // BARs that do not exist read as zero and ignore writes.
    guest.write32(1, 0x18, 0xffffffff);
    CHECK(guest.read32(1, 0x18) == 0);
    // Memory decoding follows the command register.
    CHECK_FALSE(function.config.memory_space_enabled());
    guest.write32(1, 0x04, 0x2);
    CHECK(function.config.memory_space_enabled());
    CHECK(function.map_changes == 5);
}

TEST_CASE("the capability list is walkable and read-only fields stay put", "[pci]")
{
    HostBridge bridge;
    SimpleFunction function;
    bridge.attach(1, function);
    Cf8 guest { bridge };
    CHECK((guest.read32(1, 0x04) >> 16) & 0x10); // status: capabilities list
    unsigned pointer = guest.read8(1, 0x34);
    std::vector<unsigned> ids;
    while (pointer) {
        ids.push_back(guest.read8(1, pointer));
        pointer = guest.read8(1, pointer + 1);
    }
    CHECK(ids == std::vector<unsigned> { 0x09, 0x11 });
    CHECK(function.second_capability % 4 == 0);
    guest.write32(1, 0x00, 0);
    CHECK(guest.read32(1, 0x00) == 0x10421af4);
    guest.write32(1, 0x3c, 0x0b);
    CHECK(guest.read8(1, 0x3c) == 0x0b); // interrupt line is the OS's scratch register
}

TEST_CASE("MSI-X vectors deliver, hold while masked, and send pending ones on unmask", "[pci][msix]")
{
    test::RecordingMsiDelivery delivery;
    MsixTable table(3, delivery);
    CHECK(table.table_size() == 48);
    // Program vector 1: address, data, unmask.
    std::uint64_t address = 0xfee00000;
    std::uint32_t data = 0x41, control = 0;
    table.write_table(16, std::span(reinterpret_cast<const std::uint8_t*>(&address), 8));
    table.write_table(24, std::span(reinterpret_cast<const std::uint8_t*>(&data), 4));
    REQUIRE(delivery.routes[1]);
    CHECK(delivery.routes[1]->address == 0xfee00000);
    CHECK(delivery.routes[1]->data == 0x41);

    table.trigger(1); // MSI-X still disabled: pending
    CHECK(delivery.signals.empty());
    table.write_control(msix::control_enable);
    CHECK(delivery.signals.empty()); // the vector itself is still masked (its reset state)
    std::array<std::uint8_t, 1> pending {};
    table.read_pending(0, pending);
    CHECK(pending[0] == 0b010);
    table.write_table(28, std::span(reinterpret_cast<const std::uint8_t*>(&control), 4));
    CHECK(delivery.signals == std::vector<std::uint16_t> { 1 });
    table.read_pending(0, pending);
    CHECK(pending[0] == 0);

    table.trigger(1);
    CHECK(delivery.signals.size() == 2);
    table.write_control(msix::control_enable | msix::control_function_mask);
    table.trigger(1);
    CHECK(delivery.signals.size() == 2);
    table.write_control(msix::control_enable);
    CHECK(delivery.signals.size() == 3);
    CHECK(table.messages_sent() == 3);

    std::array<std::uint8_t, 4> read_back {};
    table.read_table(24, read_back);
    CHECK(read_back[0] == 0x41);
    table.trigger(7); // no such vector: ignored
}
