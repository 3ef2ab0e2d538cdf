// The minimal ACPI tables chapter 05 gives Linux (ACPI 6.4 §5.2): what an OS checks before it
// trusts them — signatures, lengths, checksums, pointers that resolve — and what the MADT says.

#include <stepvmm/boot/acpi_tables.hpp>
#include <stepvmm/boot/e820.hpp>
#include <stepvmm/boot/mp_table.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>
#include <numeric>
#include <string>

using namespace stepvmm;
using namespace stepvmm::boot;

namespace {

GuestMemory make_memory() { return GuestMemory(pc_memory_layout(64ULL << 20, 3ULL << 30), Backing::Anonymous4K); }

std::string signature_at(const GuestMemory& memory, std::uint64_t address, std::size_t length = 4)
{
    auto bytes = memory.at(address, length);
    return std::string(bytes.begin(), bytes.end());
}

std::uint8_t byte_sum(const GuestMemory& memory, std::uint64_t address, std::uint64_t length)
{
    auto bytes = memory.at(address, length);
    return static_cast<std::uint8_t>(std::accumulate(bytes.begin(), bytes.end(), 0U));
}

} // namespace

TEST_CASE("the RSDP is found where Linux searches and its checksums hold", "[boot][acpi]")
{
    auto memory = make_memory();
    auto layout = write_acpi_tables(memory, AcpiConfig {});
    CHECK(layout.rsdp >= 0xe0000);
    CHECK(layout.rsdp < 0x100000);
    CHECK(layout.rsdp % 16 == 0);
    CHECK(signature_at(memory, layout.rsdp, 8) == "RSD PTR ");
    CHECK(byte_sum(memory, layout.rsdp, 20) == 0);
    CHECK(byte_sum(memory, layout.rsdp, 36) == 0);
    CHECK(memory.read<std::uint8_t>(layout.rsdp + 15) == 2);
    CHECK(memory.read<std::uint64_t>(layout.rsdp + 24) == layout.xsdt);
}

TEST_CASE("every table has its signature, a consistent length and a zero checksum", "[boot][acpi]")
{
    auto memory = make_memory();
    auto layout = write_acpi_tables(memory, AcpiConfig { .cpu_count = 4 });
    for (auto [address, signature] : { std::pair { layout.xsdt, "XSDT" }, std::pair { layout.fadt, "FACP" },
             std::pair { layout.dsdt, "DSDT" }, std::pair { layout.madt, "APIC" } }) {
        INFO(signature);
        CHECK(signature_at(memory, address) == signature);
        auto length = memory.read<std::uint32_t>(address + 4);
        CHECK(length >= 36);
        CHECK(byte_sum(memory, address, length) == 0);
    }
    // The XSDT points at the FADT and the MADT; the FADT at the DSDT, twice, and says hardware-reduced.
    CHECK(memory.read<std::uint32_t>(layout.xsdt + 4) == 36 + 16);
    CHECK(memory.read<std::uint64_t>(layout.xsdt + 36) == layout.fadt);
    CHECK(memory.read<std::uint64_t>(layout.xsdt + 44) == layout.madt);
    CHECK(memory.read<std::uint32_t>(layout.fadt + 4) == 276);
    CHECK(memory.read<std::uint32_t>(layout.fadt + 40) == layout.dsdt);
    CHECK(memory.read<std::uint64_t>(layout.fadt + 140) == layout.dsdt);
    CHECK((memory.read<std::uint32_t>(layout.fadt + 112) & (1U << 20)));
}

TEST_CASE("the MADT lists one enabled local APIC per CPU, the I/O APIC and the LINT1 NMI", "[boot][acpi]")
{
    auto cpus = GENERATE(1u, 2u, 8u);
    auto memory = make_memory();
    auto layout = write_acpi_tables(memory, AcpiConfig { .cpu_count = cpus });
    CHECK(memory.read<std::uint32_t>(layout.madt + 36) == 0xfee00000);
    auto length = memory.read<std::uint32_t>(layout.madt + 4);
    std::vector<unsigned> apic_ids;
    unsigned io_apics = 0, nmis = 0;
    for (std::uint64_t at = layout.madt + 44; at < layout.madt + length;) {
        auto type = memory.read<std::uint8_t>(at), entry_length = memory.read<std::uint8_t>(at + 1);
        REQUIRE(entry_length >= 2);
        if (type == 0) {
            CHECK(memory.read<std::uint32_t>(at + 4) == 1);
            apic_ids.push_back(memory.read<std::uint8_t>(at + 3));
        } else if (type == 1) {
            ++io_apics;
            CHECK(memory.read<std::uint32_t>(at + 4) == 0xfec00000);
            CHECK(memory.read<std::uint32_t>(at + 8) == 0);
        } else if (type == 4) {
            ++nmis;
            CHECK(memory.read<std::uint8_t>(at + 5) == 1);
        }
        at += entry_length;
    }
    std::vector<unsigned> expected(cpus);
    std::iota(expected.begin(), expected.end(), 0u);
    CHECK(apic_ids == expected);
    CHECK(io_apics == 1);
    CHECK(nmis == 1);
}

TEST_CASE("the ACPI tables lie in e820-reserved memory and clear of the MP table", "[boot][acpi]")
{
    auto memory = make_memory();
    auto layout = write_acpi_tables(memory, AcpiConfig {});
    std::uint64_t end = layout.madt + memory.read<std::uint32_t>(layout.madt + 4);
    CHECK(end <= bios_area_mp_address);
    bool reserved = false;
    for (const E820Entry& entry : pc_e820_map(pc_memory_layout(64ULL << 20, 3ULL << 30)))
        reserved = reserved || (entry.type != E820Type::Ram && entry.address <= layout.rsdp && end <= entry.address + entry.size);
    CHECK(reserved);
    CHECK_THROWS_AS(write_acpi_tables(memory, AcpiConfig { .cpu_count = 0 }), UserError);
    CHECK_THROWS_AS(write_acpi_tables(memory, AcpiConfig { .cpu_count = 256 }), UserError);
}
