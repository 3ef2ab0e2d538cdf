#include <stepvmm/boot/mp_table.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <cstring>
#include <fmt/format.h>

namespace stepvmm::boot {

namespace {

// Sizes fixed by the MP spec: the floating pointer (§4.1, Figure 4-2), the configuration
// table header (§4.2, Table 4-2), a processor entry (§4.3.1) and the 8-byte entries.
constexpr std::size_t floating_pointer_size = 16;
constexpr std::size_t header_size = 44;
constexpr std::size_t processor_entry_size = 20;
constexpr std::uint8_t spec_revision = 4; // 1.4
constexpr std::uint8_t local_apic_version = 0x14; // an integrated APIC (MP spec §4.3.1: 1xH)
constexpr std::uint8_t isa_bus_id = 0;
constexpr std::uint8_t cascade_irq = 2;
constexpr std::uint8_t all_local_apics = 0xff;

class Writer {
public:
    void u8(std::uint8_t value) { m_bytes.push_back(value); }
    void u16(std::uint16_t value) { raw(&value, 2); }
    void u32(std::uint32_t value) { raw(&value, 4); }
    void text(const char* value, std::size_t length)
    {
        // Space-padded, not NUL-terminated (MP spec Table 4-2, OEM ID).
        std::size_t used = std::min(std::strlen(value), length);
        raw(value, used);
        m_bytes.insert(m_bytes.end(), length - used, ' ');
    }
    void raw(const void* data, std::size_t length)
    {
        const auto* bytes = static_cast<const std::uint8_t*>(data);
        m_bytes.insert(m_bytes.end(), bytes, bytes + length);
    }
    std::vector<std::uint8_t>& bytes() { return m_bytes; }

private:
    std::vector<std::uint8_t> m_bytes;
};

}

std::uint8_t byte_sum(const std::uint8_t* data, std::size_t length)
{
    std::uint8_t sum = 0;
    for (std::size_t i = 0; i < length; ++i)
        sum = static_cast<std::uint8_t>(sum + data[i]);
    return sum;
}

std::uint8_t io_apic_id(const MpConfig& config)
{
    return static_cast<std::uint8_t>(config.cpu_count);
}

MpTable build_mp_table(const MpConfig& config, std::uint64_t address)
{
    // APIC ids are 8 bits in the MP table; the IOAPIC takes the id after the last CPU.
    if (config.cpu_count == 0 || config.cpu_count > 254)
        throw UserError(fmt::format("an MP table describes 1 to 254 CPUs, not {}", config.cpu_count));
    if (address % 16 != 0 || address >= 0x100000)
        throw UserError(fmt::format("the MP floating pointer must be 16-byte aligned below 1 MiB, not at {:#x}", address));
    std::uint64_t table_address = address + floating_pointer_size;

    // The configuration table's entries first (§4.3), so the header can count them.
    Writer entries;
    std::uint16_t entry_count = 0;
    for (unsigned cpu = 0; cpu < config.cpu_count; ++cpu) {
        entries.u8(mp_entry::processor);
        entries.u8(static_cast<std::uint8_t>(cpu)); // local APIC id = vCPU id (the CPUID we give each vCPU says so)
        entries.u8(local_apic_version);
        entries.u8(static_cast<std::uint8_t>(0x1 | (cpu == 0 ? 0x2 : 0))); // EN, and BP for the bootstrap CPU
        entries.u32(0x600);        // CPU signature: family 6; informational only, Linux reads CPUID
        entries.u32(0x201);        // feature flags: FPU, APIC on chip (§4.3.1, Table 4-5)
        entries.u32(0);
        entries.u32(0);
        ++entry_count;
    }
    entries.u8(mp_entry::bus);
    entries.u8(isa_bus_id);
    entries.text("ISA", 6); // bus type strings, Table 4-8
    ++entry_count;

    std::uint8_t ioapic = io_apic_id(config);
    entries.u8(mp_entry::io_apic);
    entries.u8(ioapic);
    entries.u8(config.io_apic_version);
    entries.u8(0x1); // EN
    entries.u32(static_cast<std::uint32_t>(config.io_apic_address));
    ++entry_count;

    // ISA IRQ n -> IOAPIC pin n. That is how KVM's in-kernel irqchip is wired by default
    // (KVM_CREATE_IRQCHIP routes GSI 0-15 to the PICs and to IOAPIC pins 0-15 of the same
    // number: arch/x86/kvm/irq_comm.c, default_routing), and the PIT raises GSI 0 — so the
    // timer is on pin 0 here, not on pin 2 as on real chipsets (and QEMU, which re-routes
    // GSI 0 to pin 2 itself). Flags 0: polarity and trigger "conform to the bus" = ISA's
    // active-high edge (Table 4-10).
    for (std::uint8_t irq = 0; irq < 16; ++irq) {
        if (irq == cascade_irq)
            continue;
        entries.u8(mp_entry::io_interrupt);
        entries.u8(mp_interrupt::vectored);
        entries.u16(0);
        entries.u8(isa_bus_id);
        entries.u8(irq);
        entries.u8(ioapic);
        entries.u8(irq);
        ++entry_count;
    }
    // Virtual wire mode for every local APIC (§3.6.2.2, §5.1): the 8259 as ExtINT on LINT0,
    // NMI on LINT1.
    for (std::uint8_t type : { mp_interrupt::external, mp_interrupt::nmi }) {
        entries.u8(mp_entry::local_interrupt);
        entries.u8(type);
        entries.u16(0);
        entries.u8(isa_bus_id);
        entries.u8(0);
        entries.u8(all_local_apics);
        entries.u8(type == mp_interrupt::external ? 0 : 1); // LINTIN#
        ++entry_count;
    }

    // The configuration table header (§4.2, Table 4-2).
    Writer table;
    table.raw("PCMP", 4);
    table.u16(static_cast<std::uint16_t>(header_size + entries.bytes().size())); // base table length
    table.u8(spec_revision);
    table.u8(0); // checksum, filled below
    table.text("STEPVMM", 8);
    table.text("KVM", 12);
    table.u32(0); // no OEM table
    table.u16(0);
    table.u16(entry_count);
    table.u32(static_cast<std::uint32_t>(config.local_apic_address));
    table.u16(0); // no extended entries
    table.u8(0);
    table.u8(0);
    table.raw(entries.bytes().data(), entries.bytes().size());
    auto& table_bytes = table.bytes();
    table_bytes[7] = static_cast<std::uint8_t>(-byte_sum(table_bytes.data(), table_bytes.size()));

    // The floating pointer structure (§4.1, Table 4-1).
    Writer pointer;
    pointer.raw("_MP_", 4);
    pointer.u32(static_cast<std::uint32_t>(table_address));
    pointer.u8(1); // length in 16-byte paragraphs
    pointer.u8(spec_revision);
    pointer.u8(0); // checksum, filled below
    pointer.u8(0); // feature byte 1 = 0: a configuration table is present
    pointer.u8(0); // feature byte 2 bit 7 (IMCRP) = 0: virtual wire mode, no IMCR
    pointer.u8(0);
    pointer.u8(0);
    pointer.u8(0);
    auto& pointer_bytes = pointer.bytes();
    pointer_bytes[10] = static_cast<std::uint8_t>(-byte_sum(pointer_bytes.data(), pointer_bytes.size()));

    MpTable result { address, std::move(pointer_bytes) };
    result.bytes.insert(result.bytes.end(), table_bytes.begin(), table_bytes.end());
    static_assert(floating_pointer_size == 16 && processor_entry_size == 20);
    return result;
}

void write_mp_table(const GuestMemory& memory, const MpConfig& config, std::uint64_t address)
{
    auto table = build_mp_table(config, address);
    memory.write_bytes(table.address, table.bytes);
}

} // namespace stepvmm::boot
