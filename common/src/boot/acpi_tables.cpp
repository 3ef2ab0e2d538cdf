#include <stepvmm/boot/acpi_tables.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/system_error.hpp>

#include <cstring>
#include <fmt/format.h>
#include <numeric>
#include <string_view>
#include <vector>

namespace stepvmm::boot {

namespace {

constexpr std::string_view oem_id = "STPVMM";       // 6 bytes
constexpr std::string_view oem_table_id = "STEPVMM "; // 8 bytes
constexpr std::uint32_t creator_id = 0x4d4d5653;     // "SVMM"

/// A table under construction: little-endian fields appended in order.
class Table {
public:
    void u8(std::uint8_t value) { m_bytes.push_back(value); }
    void u16(std::uint16_t value) { append(&value, 2); }
    void u32(std::uint32_t value) { append(&value, 4); }
    void u64(std::uint64_t value) { append(&value, 8); }
    void text(std::string_view value) { append(value.data(), value.size()); }
    void zeros(std::size_t count) { m_bytes.resize(m_bytes.size() + count, 0); }
    void put_u32(std::size_t offset, std::uint32_t value) { std::memcpy(m_bytes.data() + offset, &value, 4); }
    [[nodiscard]] std::size_t size() const { return m_bytes.size(); }
    std::vector<std::uint8_t>& bytes() { return m_bytes; }

    /// The common System Description Table header (§5.2.6); length and checksum come later.
    void header(std::string_view signature, std::uint8_t revision)
    {
        text(signature);
        u32(0); // length
        u8(revision);
        u8(0); // checksum
        text(oem_id);
        text(oem_table_id);
        u32(1); // OEM revision
        u32(creator_id);
        u32(1); // creator revision
    }
    /// Fills in the length and makes all bytes sum to zero (§5.2.6 "Checksum").
    void finish_sdt()
    {
        put_u32(4, static_cast<std::uint32_t>(m_bytes.size()));
        m_bytes[9] = 0;
        m_bytes[9] = static_cast<std::uint8_t>(-std::accumulate(m_bytes.begin(), m_bytes.end(), 0U));
    }

private:
    void append(const void* data, std::size_t length)
    {
        auto* bytes = static_cast<const std::uint8_t*>(data);
        m_bytes.insert(m_bytes.end(), bytes, bytes + length);
    }
    std::vector<std::uint8_t> m_bytes;
};

std::uint8_t checksum_of(const std::vector<std::uint8_t>& bytes, std::size_t length)
{
    return static_cast<std::uint8_t>(-std::accumulate(bytes.begin(), bytes.begin() + static_cast<long>(length), 0U));
}

std::uint64_t align16(std::uint64_t value) { return (value + 15) & ~std::uint64_t { 15 }; }

} // namespace

AcpiLayout write_acpi_tables(const GuestMemory& memory, const AcpiConfig& config)
{
    if (config.cpu_count == 0 || config.cpu_count > 255)
        throw UserError(fmt::format("the MADT describes 1 to 255 local APICs here (8-bit APIC ids), not {}", config.cpu_count));
    AcpiLayout layout {};
    layout.rsdp = acpi_rsdp_address;
    layout.xsdt = align16(layout.rsdp + 36);
    layout.fadt = align16(layout.xsdt + 36 + 8 * 2);
    layout.dsdt = align16(layout.fadt + 276);
    layout.madt = align16(layout.dsdt + 36);

    // DSDT (§5.2.11.1): required by a FADT, but this machine has nothing to describe in AML.
    Table dsdt;
    dsdt.header("DSDT", 2);
    dsdt.finish_sdt();

    // MADT (§5.2.12): where the local APICs are, which exist, the I/O APIC and its GSIs. No
    // interrupt source overrides (§5.2.12.5): KVM's default routing sends ISA IRQ n (the PIT's
    // GSI 0 included) to I/O APIC pin n, which is what an OS assumes for an ISA IRQ with no
    // override (and what the MP table says too). A firmware on real chipsets would list
    // "IRQ 0 -> GSI 2" here; that would be wrong for KVM's in-kernel wiring. Nor is an SCI
    // override needed: on a hardware-reduced platform there is no SCI, and Linux then does not
    // invent one for FADT.SCI_INT (which is 0 here and would otherwise turn GSI 0 level-low;
    // arch/x86/kernel/acpi/boot.c, acpi_parse_madt_ioapic_entries).
    Table madt;
    madt.header("APIC", 5);
    madt.u32(config.local_apic_address);
    madt.u32(1); // PCAT_COMPAT: the 8259s are there too (they are, in-kernel)
    for (unsigned cpu = 0; cpu < config.cpu_count; ++cpu) {
        madt.u8(0); // Processor Local APIC (§5.2.12.2)
        madt.u8(8);
        madt.u8(static_cast<std::uint8_t>(cpu)); // ACPI processor UID
        madt.u8(static_cast<std::uint8_t>(cpu)); // APIC id, as CPUID reports it
        madt.u32(1);                              // enabled
    }
    madt.u8(1); // I/O APIC (§5.2.12.3)
    madt.u8(12);
    // The id KVM's I/O APIC reports in its ID register after reset. The MP table names it
    // differently (after the last CPU, as MP spec §3.6.6 wants unique APIC-bus ids); a 64-bit
    // Linux neither rewrites nor compares the id, and reads only one of the two tables.
    madt.u8(config.io_apic_id);
    madt.u8(0);
    madt.u32(config.io_apic_address);
    madt.u32(0); // global system interrupt base: its 24 pins are GSIs 0-23
    madt.u8(4);  // Local APIC NMI (§5.2.12.7): LINT1 of every processor
    madt.u8(6);
    madt.u8(0xff); // all processors
    madt.u16(0);   // flags: as the bus defines
    madt.u8(1);    // LINT1
    madt.finish_sdt();

    // FADT (§5.2.9), revision 6: a hardware-reduced platform, so the OS expects no PM timer,
    // no SCI and no fixed-feature registers; the i8042 is flagged so Linux keeps its driver.
    Table fadt;
    fadt.header("FACP", 6);
    fadt.zeros(276 - fadt.size());
    fadt.put_u32(40, static_cast<std::uint32_t>(layout.dsdt)); // DSDT
    fadt.bytes()[109] = 1 << 1;                                   // IAPC_BOOT_ARCH: 8042 present
    fadt.put_u32(112, 1U << 20);                                  // Flags: HW_REDUCED_ACPI
    fadt.bytes()[131] = 4;                                        // FADT minor version: ACPI 6.4
    std::uint64_t x_dsdt = layout.dsdt;
    std::memcpy(fadt.bytes().data() + 140, &x_dsdt, 8); // X_DSDT
    fadt.finish_sdt();

    // XSDT (§5.2.8): 64-bit pointers to every other table but the DSDT (the FADT names it).
    Table xsdt;
    xsdt.header("XSDT", 1);
    xsdt.u64(layout.fadt);
    xsdt.u64(layout.madt);
    xsdt.finish_sdt();

    // RSDP (§5.2.5.3), revision 2: a checksum over the first 20 bytes and one over all 36.
    Table rsdp;
    rsdp.text("RSD PTR ");
    rsdp.u8(0);
    rsdp.text(oem_id);
    rsdp.u8(2);  // revision: ACPI 2.0+, has an XSDT
    rsdp.u32(0); // RSDT address: none, the XSDT serves
    rsdp.u32(36);
    rsdp.u64(layout.xsdt);
    rsdp.u8(0);
    rsdp.zeros(3);
    rsdp.bytes()[8] = checksum_of(rsdp.bytes(), 20);
    rsdp.bytes()[32] = checksum_of(rsdp.bytes(), 36);

    if (layout.madt + madt.size() > acpi_rsdp_address + acpi_area_size)
        throw UserError("the ACPI tables do not fit their area");
    memory.write_bytes(layout.rsdp, rsdp.bytes());
    memory.write_bytes(layout.xsdt, xsdt.bytes());
    memory.write_bytes(layout.fadt, fadt.bytes());
    memory.write_bytes(layout.dsdt, dsdt.bytes());
    memory.write_bytes(layout.madt, madt.bytes());
    return layout;
}

} // namespace stepvmm::boot
