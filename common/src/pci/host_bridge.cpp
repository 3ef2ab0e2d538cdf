#include <stepvmm/pci/host_bridge.hpp>

#include <cstring>
#include <stdexcept>

namespace stepvmm::pci {

namespace {
constexpr std::uint32_t address_enable = 1U << 31;
} // namespace

// Any host bridge identity works; what matters is the class: Linux's conf1 sanity check
// (arch/x86/pci/direct.c) trusts the mechanism when bus 0 has a host bridge (class 06/00).
// 1b36:0008 is the ID Red Hat assigned to a generic PCIe host bridge.
HostBridge::HostBridge()
    : m_config(Identity { 0x1b36, 0x0008, 0x060000, 0, 0x1b36, 0x0008 })
{
    m_slots[0] = this;
}

void HostBridge::attach(std::uint8_t device, Function& function)
{
    if (device == 0 || device >= m_slots.size() || m_slots[device])
        throw std::invalid_argument("PCI slot is taken or out of range");
    m_slots[device] = &function;
}

Function* HostBridge::selected(std::uint16_t& register_offset) const
{
    if (!(m_address & address_enable))
        return nullptr;
    unsigned bus = (m_address >> 16) & 0xff, device = (m_address >> 11) & 0x1f, function = (m_address >> 8) & 0x7;
    if (bus != 0 || function != 0)
        return nullptr;
    register_offset = static_cast<std::uint16_t>(m_address & 0xfc);
    return m_slots[device];
}

void HostBridge::read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    if (offset == 0 && data.size() == 4) {
        std::memcpy(data.data(), &m_address, 4);
        return;
    }
    std::uint16_t register_offset = 0;
    Function* function = offset >= 4 ? selected(register_offset) : nullptr;
    if (!function) {
        // No device answers: the read completes with all ones (a master abort, §6.1).
        std::memset(data.data(), 0xff, data.size());
        return;
    }
    function->read_config(static_cast<std::uint16_t>(register_offset + (offset - 4)), data);
}

void HostBridge::write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    if (offset == 0 && data.size() == 4) {
        std::memcpy(&m_address, data.data(), 4);
        return;
    }
    std::uint16_t register_offset = 0;
    if (Function* function = offset >= 4 ? selected(register_offset) : nullptr)
        function->write_config(static_cast<std::uint16_t>(register_offset + (offset - 4)), data);
    // Byte writes to 0xCF8-0xCFB are other chipset registers (0xCF9 is the PIIX reset
    // control); none is emulated, so they are dropped.
}

} // namespace stepvmm::pci
