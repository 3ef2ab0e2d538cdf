// The Intel MP spec 1.4 table: both checksums, and the entries Linux reads to find CPUs,
// the I/O APIC and where ISA interrupts arrive.

#include <stepvmm/boot/mp_table.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

using namespace stepvmm;
using namespace stepvmm::boot;

namespace {

template<typename T>
T get(const std::vector<std::uint8_t>& bytes, std::size_t offset)
{
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

}

TEST_CASE("The MP floating pointer and configuration table checksum to zero and point at each other", "[boot][mp_table]")
{
    auto table = build_mp_table(MpConfig { .cpu_count = 2 }, bios_area_mp_address);
    const auto& bytes = table.bytes;
    REQUIRE(bytes.size() > 16 + 44);
    CHECK(std::string(bytes.begin(), bytes.begin() + 4) == "_MP_");
    CHECK(get<std::uint32_t>(bytes, 4) == bios_area_mp_address + 16);
    CHECK(bytes[8] == 1); // one paragraph
    CHECK(bytes[9] == 4); // spec 1.4
    CHECK(bytes[11] == 0); // a configuration table follows
    CHECK(byte_sum(bytes.data(), 16) == 0);

    const std::uint8_t* config = bytes.data() + 16;
    std::size_t length = get<std::uint16_t>(bytes, 16 + 4);
    CHECK(std::string(config, config + 4) == "PCMP");
    CHECK(length == bytes.size() - 16);
    CHECK(byte_sum(config, length) == 0);
    CHECK(get<std::uint32_t>(bytes, 16 + 36) == 0xfee00000); // local APIC address
}

TEST_CASE("The MP table lists every CPU, the ISA bus, the IOAPIC and ISA IRQs on same-numbered pins", "[boot][mp_table]")
{
    MpConfig config { .cpu_count = 3 };
    auto bytes = build_mp_table(config, bios_area_mp_address).bytes;
    std::size_t count = get<std::uint16_t>(bytes, 16 + 34);
    std::size_t offset = 16 + 44;
    unsigned processors = 0, bootstrap = 0, buses = 0, io_apics = 0, local_interrupts = 0;
    std::vector<std::pair<int, int>> irq_to_pin;
    for (std::size_t i = 0; i < count; ++i) {
        std::uint8_t type = bytes.at(offset);
        if (type == mp_entry::processor) {
            CHECK(bytes[offset + 1] == processors); // APIC id = vCPU index
            CHECK((bytes[offset + 3] & 1) == 1);    // enabled
            bootstrap += (bytes[offset + 3] & 2) ? 1 : 0;
            ++processors;
            offset += 20;
            continue;
        }
        if (type == mp_entry::bus) {
            CHECK(std::string(bytes.begin() + static_cast<long>(offset) + 2, bytes.begin() + static_cast<long>(offset) + 8) == "ISA   ");
            ++buses;
        } else if (type == mp_entry::io_apic) {
            CHECK(bytes[offset + 1] == io_apic_id(config));
            CHECK(bytes[offset + 2] == 0x11);
            CHECK(get<std::uint32_t>(bytes, offset + 4) == 0xfec00000);
            ++io_apics;
        } else if (type == mp_entry::io_interrupt) {
            CHECK(bytes[offset + 1] == mp_interrupt::vectored);
            CHECK(bytes[offset + 6] == io_apic_id(config));
            irq_to_pin.emplace_back(bytes[offset + 5], bytes[offset + 7]);
        } else if (type == mp_entry::local_interrupt) {
            CHECK(bytes[offset + 6] == 0xff); // every local APIC
            CHECK(bytes[offset + 7] == (bytes[offset + 1] == mp_interrupt::external ? 0 : 1));
            ++local_interrupts;
        } else {
            FAIL("unknown entry type " << int(type));
        }
        offset += 8;
    }
    CHECK(offset == bytes.size());
    CHECK(processors == 3);
    CHECK(bootstrap == 1);
    CHECK(buses == 1);
    CHECK(io_apics == 1);
    CHECK(local_interrupts == 2);
    REQUIRE(irq_to_pin.size() == 15); // ISA IRQs 0-15 but the cascade
    for (auto [irq, pin] : irq_to_pin) {
        CHECK(irq != 2);
        CHECK(irq == pin); // KVM's default routing: GSI n on IOAPIC pin n
    }
}

TEST_CASE("The MP table refuses impossible machines and places", "[boot][mp_table]")
{
    CHECK_THROWS_AS(build_mp_table(MpConfig { .cpu_count = 0 }, bios_area_mp_address), UserError);
    CHECK_THROWS_AS(build_mp_table(MpConfig { .cpu_count = 255 }, bios_area_mp_address), UserError);
    CHECK_THROWS_AS(build_mp_table(MpConfig {}, 0xf0008), UserError);
    CHECK_THROWS_AS(build_mp_table(MpConfig {}, 0x100000), UserError);
}
