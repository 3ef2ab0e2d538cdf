// The chapter-03 legacy disk, driven the way a guest's ATA PIO driver drives it: write the task
// file, write COMMAND, poll STATUS, move 256 words through DATA per sector. The register
// numbers and bits below are typed in from ATA/ATAPI-6 rather than taken from the device, so a
// wrong constant in the device cannot agree with itself here.

#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/devices/legacy_disk.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>
#include <recording_line.hpp>
#include <temporary_file.hpp>

#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

using namespace stepvmm;
using backends::DiskAccess;
using backends::IoStatus;
using devices::LegacyDisk;

using stepvmm::test::TemporaryFile;

using stepvmm::test::RecordingLine;

namespace {

// Command block registers, as offsets from 0x1f0.
constexpr std::uint64_t data = 0, error = 1, sector_count = 2, lba_low = 3, lba_mid = 4, lba_high = 5, device = 6, status = 7;
constexpr std::uint64_t features = error, command = status;

constexpr std::uint8_t drdy = 0x40, df = 0x20, drq = 0x08, err = 0x01;
constexpr std::uint8_t abrt = 0x04, idnf = 0x10, unc = 0x40;
constexpr std::uint8_t lba_mode = 0x40, select_device_1 = 0x10;
constexpr std::uint8_t read_sectors = 0x20, write_sectors = 0x30, flush_cache = 0xe7, identify_device = 0xec;

constexpr std::uint64_t sector = 512;
using Sector = std::vector<std::uint8_t>;

// What the fake disk holds where nobody has written: a hash of the byte's offset, so every
// sector of even a 2^28-sector disk differs from its neighbours and costs no memory.
std::uint8_t pattern_byte(std::uint64_t offset)
{
    std::uint64_t mixed = offset + 0x9e3779b97f4a7c15ULL; // splitmix64's finalizer
    mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<std::uint8_t>(mixed ^ (mixed >> 31));
}

// An in-memory BlockBackend with switches for the failures a host can produce, and a record of
// what the device asked of it.
class FakeBackend final : public backends::BlockBackend {
public:
    explicit FakeBackend(std::uint64_t size, DiskAccess access = DiskAccess::ReadWrite)
        : m_size(size)
        , m_access(access)
    {
    }

    [[nodiscard]] std::uint64_t size() const override { return m_size; }
    [[nodiscard]] bool read_only() const override { return m_access == DiskAccess::ReadOnly; }

    IoStatus read(std::uint64_t offset, std::span<std::uint8_t> bytes) override
    {
        ++reads;
        read_offsets.push_back(offset);
        if (auto refusal = check(offset, bytes.size()))
            return *refusal;
        for (std::size_t index = 0; index < bytes.size(); ++index)
            bytes[index] = byte_at(offset + index);
        return IoStatus::Ok;
    }

    IoStatus write(std::uint64_t offset, std::span<const std::uint8_t> bytes) override
    {
        ++writes;
        if (m_access == DiskAccess::ReadOnly)
            return IoStatus::ReadOnly;
        if (auto refusal = check(offset, bytes.size()))
            return *refusal;
        for (std::size_t index = 0; index < bytes.size(); ++index)
            m_written[offset + index] = bytes[index];
        return IoStatus::Ok;
    }

    IoStatus flush() override
    {
        ++flushes;
        return failing_flush ? IoStatus::IoError : IoStatus::Ok;
    }

    // The ATA subset of chapter 03 has no TRIM: these are never called.
    IoStatus discard(std::uint64_t, std::uint64_t) override { return IoStatus::IoError; }
    IoStatus write_zeroes(std::uint64_t, std::uint64_t, backends::ZeroingMode) override { return IoStatus::IoError; }

    [[nodiscard]] std::uint8_t byte_at(std::uint64_t offset) const
    {
        auto written = m_written.find(offset);
        return written != m_written.end() ? written->second : pattern_byte(offset);
    }

    [[nodiscard]] Sector sector_at(std::uint64_t lba) const
    {
        Sector bytes(sector);
        for (std::uint64_t index = 0; index < sector; ++index)
            bytes[index] = byte_at(lba * sector + index);
        return bytes;
    }

    // Switches.
    std::optional<std::uint64_t> failing_sector; ///< reads and writes touching it fail
    bool failing_flush = false;

    // What the device did.
    std::uint64_t reads = 0, writes = 0, flushes = 0;
    std::uint64_t out_of_range_requests = 0;
    std::uint64_t highest_end = 0; ///< the end of the furthest byte range asked for
    std::vector<std::uint64_t> read_offsets;

private:
    std::optional<IoStatus> check(std::uint64_t offset, std::uint64_t length)
    {
        if (offset > m_size || length > m_size - offset) {
            ++out_of_range_requests;
            return IoStatus::OutOfRange;
        }
        highest_end = std::max(highest_end, offset + length);
        if (failing_sector && *failing_sector * sector < offset + length && offset < (*failing_sector + 1) * sector)
            return IoStatus::IoError;
        return std::nullopt;
    }

    std::uint64_t m_size;
    DiskAccess m_access;
    std::map<std::uint64_t, std::uint8_t> m_written;
};

// A polled ATA PIO driver that talks to the device directly, register by register.
class Driver {
public:
    explicit Driver(LegacyDisk& disk)
        : m_disk(disk)
    {
    }

    void outb(std::uint64_t offset, std::uint8_t value) { m_disk.write(offset, std::span(&value, 1)); }
    std::uint8_t inb(std::uint64_t offset)
    {
        std::uint8_t value = 0;
        m_disk.read(offset, std::span(&value, 1));
        return value;
    }
    void outw(std::uint16_t value)
    {
        std::array<std::uint8_t, 2> bytes { static_cast<std::uint8_t>(value & 0xff), static_cast<std::uint8_t>(value >> 8) };
        m_disk.write(data, bytes);
    }
    std::uint16_t inw()
    {
        std::array<std::uint8_t, 2> bytes {};
        m_disk.read(data, bytes);
        return static_cast<std::uint16_t>(bytes[0] | bytes[1] << 8);
    }
    std::uint8_t read_status() { return inb(status); }

    // The task file for a 28-bit LBA command (count 0 means 256), then the command.
    void issue(std::uint8_t command_code, std::uint32_t lba, std::uint8_t count, std::uint8_t device_bits = lba_mode)
    {
        outb(sector_count, count);
        outb(lba_low, static_cast<std::uint8_t>(lba));
        outb(lba_mid, static_cast<std::uint8_t>(lba >> 8));
        outb(lba_high, static_cast<std::uint8_t>(lba >> 16));
        outb(device, static_cast<std::uint8_t>(device_bits | ((lba >> 24) & 0x0f)));
        outb(command, command_code);
    }

    Sector read_block(std::size_t words = 256)
    {
        Sector bytes;
        for (std::size_t index = 0; index < words; ++index) {
            std::uint16_t word = inw();
            bytes.push_back(static_cast<std::uint8_t>(word & 0xff));
            bytes.push_back(static_cast<std::uint8_t>(word >> 8));
        }
        return bytes;
    }

    void write_block(const Sector& bytes)
    {
        for (std::size_t index = 0; index + 1 < bytes.size(); index += 2)
            outw(static_cast<std::uint16_t>(bytes[index] | bytes[index + 1] << 8));
    }

    std::array<std::uint16_t, 256> identify()
    {
        outb(device, lba_mode);
        outb(command, identify_device);
        REQUIRE(read_status() == (drdy | drq));
        std::array<std::uint16_t, 256> words {};
        for (auto& word : words)
            word = inw();
        return words;
    }

private:
    LegacyDisk& m_disk;
};

Sector numbered_sector(std::uint8_t seed)
{
    Sector bytes(sector);
    for (std::size_t index = 0; index < bytes.size(); ++index)
        bytes[index] = static_cast<std::uint8_t>(seed * 37 + index * 11 + (index >> 8));
    return bytes;
}

// An ATA string field read back from IDENTIFY words: the two bytes of each word swapped back.
std::string ata_string(const std::array<std::uint16_t, 256>& words, std::size_t first, std::size_t count)
{
    std::string text;
    for (std::size_t index = first; index < first + count; ++index) {
        text.push_back(static_cast<char>(words[index] >> 8));
        text.push_back(static_cast<char>(words[index] & 0xff));
    }
    return text;
}

std::vector<std::uint8_t> random_bytes(std::size_t count, std::uint32_t seed)
{
    std::mt19937 generator(seed);
    std::vector<std::uint8_t> bytes(count);
    for (auto& byte : bytes)
        byte = static_cast<std::uint8_t>(generator());
    return bytes;
}

Sector slice(const std::vector<std::uint8_t>& bytes, std::uint64_t lba, std::uint64_t sectors = 1)
{
    return Sector(bytes.begin() + static_cast<std::ptrdiff_t>(lba * sector), bytes.begin() + static_cast<std::ptrdiff_t>((lba + sectors) * sector));
}

}

TEST_CASE("LegacyDisk capacity is the backend's whole sectors, at most 2^28", "[legacy_disk]")
{
    io::UnconnectedLine line;
    FakeBackend partial(10 * sector + 511), tiny(100), huge((std::uint64_t { 1 } << 28) * sector + 2 * sector);
    CHECK(LegacyDisk("disk", partial, line).capacity() == 10);
    CHECK(LegacyDisk("disk", tiny, line).capacity() == 0);
    CHECK(LegacyDisk("disk", huge, line).capacity() == std::uint64_t { 1 } << 28);
    CHECK(LegacyDisk("legacy-disk", tiny, line).name() == "legacy-disk");
}

TEST_CASE("after power-on the disk is ready, idle and shows the ATA signature", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    CHECK(driver.read_status() == drdy);
    CHECK(driver.inb(error) == 0x01); // diagnostic code: device 0 passed
    CHECK(driver.inb(sector_count) == 0x01);
    CHECK(driver.inb(lba_low) == 0x01);
    CHECK(driver.inb(lba_mid) == 0x00);
    CHECK(driver.inb(lba_high) == 0x00);
    CHECK(driver.inb(device) == 0x00);
    CHECK(line.levels().empty());
    CHECK(backend.reads + backend.writes + backend.flushes == 0);
}

TEST_CASE("READ SECTORS of one sector: DRQ until the 256th word, then ready", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    driver.issue(read_sectors, 5, 1);
    CHECK(driver.read_status() == (drdy | drq));
    Sector bytes = driver.read_block(255);
    CHECK(driver.read_status() == (drdy | drq));
    Sector last = driver.read_block(1);
    bytes.insert(bytes.end(), last.begin(), last.end());
    CHECK(driver.read_status() == drdy);
    CHECK(driver.inb(error) == 0);

    CHECK(bytes == backend.sector_at(5));
    CHECK(backend.read_offsets == std::vector<std::uint64_t> { 5 * sector });
    CHECK(disk.statistics().sectors_read == 1);
    CHECK(disk.statistics().commands == 1);
    CHECK(disk.statistics().errors == 0);
    CHECK(disk.statistics().protocol_errors == 0);
}

TEST_CASE("READ SECTORS of several sectors at an LBA that needs all 28 bits", "[legacy_disk]")
{
    FakeBackend backend((std::uint64_t { 1 } << 28) * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    const std::uint32_t lba = 0x0abcdef0;
    driver.issue(read_sectors, lba, 3);
    for (std::uint32_t index = 0; index < 3; ++index) {
        CAPTURE(index);
        REQUIRE(driver.read_status() == (drdy | drq));
        CHECK(driver.read_block() == backend.sector_at(lba + index));
    }
    CHECK(driver.read_status() == drdy);
    CHECK(disk.statistics().sectors_read == 3);

    // The very last sector 28-bit LBA can address.
    driver.issue(read_sectors, 0x0fffffff, 1);
    REQUIRE(driver.read_status() == (drdy | drq));
    CHECK(driver.read_block() == backend.sector_at(0x0fffffff));
    CHECK(backend.out_of_range_requests == 0);
}

TEST_CASE("READ SECTORS with a sector count of 0 transfers 256 sectors", "[legacy_disk]")
{
    FakeBackend backend(300 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    driver.issue(read_sectors, 10, 0);
    for (std::uint32_t index = 0; index < 256; ++index) {
        CAPTURE(index);
        REQUIRE(driver.read_status() == (drdy | drq));
        REQUIRE(driver.read_block() == backend.sector_at(10 + index));
    }
    CHECK(driver.read_status() == drdy);
    CHECK(disk.statistics().sectors_read == 256);
    CHECK(backend.reads == 256);
    driver.inw(); // nothing left to read
    CHECK(disk.statistics().protocol_errors == 1);
}

TEST_CASE("WRITE SECTORS hands each sector to the backend after its 256th word", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);
    Sector before = backend.sector_at(2), after = backend.sector_at(4);

    Sector bytes = numbered_sector(1);
    driver.issue(write_sectors, 3, 1);
    CHECK(driver.read_status() == (drdy | drq));
    driver.write_block(Sector(bytes.begin(), bytes.end() - 2));
    CHECK(backend.writes == 0);
    CHECK(driver.read_status() == (drdy | drq));
    driver.outw(static_cast<std::uint16_t>(bytes[510] | bytes[511] << 8));
    CHECK(backend.writes == 1);
    CHECK(driver.read_status() == drdy);
    CHECK(driver.inb(error) == 0);

    CHECK(backend.sector_at(3) == bytes);
    CHECK(backend.sector_at(2) == before);
    CHECK(backend.sector_at(4) == after);
    CHECK(disk.statistics().sectors_written == 1);
    CHECK(disk.statistics().errors == 0);
}

TEST_CASE("WRITE SECTORS of several sectors, and of 256 sectors for a count of 0", "[legacy_disk]")
{
    for (std::uint8_t count : { std::uint8_t { 3 }, std::uint8_t { 0 } }) {
        CAPTURE(count);
        std::uint32_t sectors = count == 0 ? 256 : count;
        FakeBackend backend(300 * sector);
        io::UnconnectedLine line;
        LegacyDisk disk("disk", backend, line);
        Driver driver(disk);
        Sector untouched = backend.sector_at(7 + sectors);

        driver.issue(write_sectors, 7, count);
        for (std::uint32_t index = 0; index < sectors; ++index) {
            REQUIRE(driver.read_status() == (drdy | drq));
            driver.write_block(numbered_sector(static_cast<std::uint8_t>(index)));
        }
        CHECK(driver.read_status() == drdy);
        for (std::uint32_t index = 0; index < sectors; ++index)
            REQUIRE(backend.sector_at(7 + index) == numbered_sector(static_cast<std::uint8_t>(index)));
        CHECK(backend.sector_at(7 + sectors) == untouched);
        CHECK(backend.writes == sectors);
        CHECK(disk.statistics().sectors_written == sectors);
    }
}

TEST_CASE("IDENTIFY DEVICE describes a fixed LBA disk and its capacity", "[legacy_disk]")
{
    FakeBackend backend(0x01234567ULL * sector + 100);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    auto words = driver.identify();
    CHECK(driver.read_status() == drdy); // all 256 words read: no more DRQ
    CHECK(words[0] == 0x0040);
    CHECK(ata_string(words, 10, 10) == "STEPVMM0001         ");
    CHECK(ata_string(words, 23, 4) == "0.1     ");
    CHECK(ata_string(words, 27, 20) == "stepvmm legacy disk                     ");
    // The raw words: the first character of each pair is the high byte.
    CHECK(words[27] == ('s' << 8 | 't'));
    CHECK(words[35] == ('i' << 8 | 's'));
    CHECK(words[36] == ('k' << 8 | ' '));
    CHECK(words[46] == 0x2020); // two spaces of padding
    CHECK(words[47] == 0x8001);
    CHECK((words[49] & (1 << 9)) != 0);
    CHECK(words[60] == 0x4567);
    CHECK(words[61] == 0x0123);
    CHECK(backend.reads == 0);
    CHECK(disk.statistics().sectors_read == 0);
}

TEST_CASE("a range that starts past the end of the disk fails with IDNF", "[legacy_disk]")
{
    FakeBackend backend(8 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    for (std::uint8_t code : { read_sectors, write_sectors }) {
        CAPTURE(code);
        for (std::uint32_t lba : { 8u, 9u, 0x0fffffffu }) {
            CAPTURE(lba);
            driver.issue(code, lba, 1);
            CHECK(driver.read_status() == (drdy | err));
            CHECK(driver.inb(error) == idnf);
        }
    }
    CHECK(backend.reads + backend.writes == 0);
    CHECK(disk.statistics().errors == 6);
}

TEST_CASE("a range that straddles the end of the disk fails with IDNF and moves nothing", "[legacy_disk]")
{
    // 8 whole sectors and half of a ninth, which is not addressable.
    FakeBackend backend(8 * sector + 256);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    for (std::uint8_t code : { read_sectors, write_sectors }) {
        CAPTURE(code);
        for (std::uint8_t count : { std::uint8_t { 3 }, std::uint8_t { 0 } }) {
            driver.issue(code, 6, count);
            CHECK(driver.read_status() == (drdy | err));
            CHECK(driver.inb(error) == idnf);
        }
        driver.issue(code, 7, 2); // sector 8 exists only in part
        CHECK(driver.read_status() == (drdy | err));
        CHECK(driver.inb(error) == idnf);
    }
    CHECK(driver.inw() == 0xffff);
    driver.write_block(numbered_sector(9));
    CHECK(backend.reads + backend.writes == 0);
    CHECK(disk.statistics().protocol_errors == 257);

    driver.issue(read_sectors, 5, 3); // the last three whole sectors are fine
    CHECK(driver.read_status() == (drdy | drq));
}

TEST_CASE("WRITE SECTORS to a read-only disk aborts and leaves the backend untouched", "[legacy_disk]")
{
    FakeBackend backend(16 * sector, DiskAccess::ReadOnly);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);
    Sector before = backend.sector_at(3);

    driver.issue(write_sectors, 3, 1);
    CHECK(driver.read_status() == (drdy | err));
    CHECK(driver.inb(error) == abrt);
    driver.write_block(numbered_sector(3)); // a driver that ignores the error
    CHECK(backend.writes == 0);
    CHECK(backend.sector_at(3) == before);
    CHECK(disk.statistics().sectors_written == 0);
    CHECK(disk.statistics().protocol_errors == 256);

    driver.issue(read_sectors, 3, 1); // reading is still allowed
    REQUIRE(driver.read_status() == (drdy | drq));
    CHECK(driver.read_block() == before);
}

TEST_CASE("a host read error ends READ SECTORS with UNC after the sectors before it", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    backend.failing_sector = 5;
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    driver.issue(read_sectors, 4, 3);
    REQUIRE(driver.read_status() == (drdy | drq));
    CHECK(driver.read_block() == backend.sector_at(4));
    CHECK(line.asserted()); // the error completes the command
    CHECK(driver.read_status() == (drdy | err));
    CHECK(driver.inb(error) == unc);
    CHECK(driver.inw() == 0xffff);
    CHECK(disk.statistics().sectors_read == 1);
    CHECK(disk.statistics().errors == 1);

    driver.issue(read_sectors, 5, 1); // failing in the first sector: no DRQ at all
    CHECK(driver.read_status() == (drdy | err));
    CHECK(driver.inb(error) == unc);
}

TEST_CASE("a host write error ends WRITE SECTORS with DF after writing the sectors before it", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    backend.failing_sector = 5;
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);
    Sector old_fifth = backend.sector_at(5), old_sixth = backend.sector_at(6);

    driver.issue(write_sectors, 4, 3);
    driver.write_block(numbered_sector(4));
    CHECK(driver.read_status() == (drdy | drq));
    driver.write_block(numbered_sector(5));
    CHECK(line.asserted());
    CHECK(driver.read_status() == (drdy | df | err));
    CHECK(driver.inb(error) == abrt);
    driver.write_block(numbered_sector(6)); // the transfer has ended

    CHECK(backend.sector_at(4) == numbered_sector(4));
    CHECK(backend.sector_at(5) == old_fifth);
    CHECK(backend.sector_at(6) == old_sixth);
    CHECK(backend.writes == 2);
    CHECK(disk.statistics().sectors_written == 1);
    CHECK(disk.statistics().errors == 1);
    CHECK(disk.statistics().protocol_errors == 256);
}

TEST_CASE("FLUSH CACHE flushes the backend and a failing flush reports DF", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    driver.outb(device, lba_mode);
    driver.outb(command, flush_cache);
    CHECK(backend.flushes == 1);
    CHECK(line.asserted());
    CHECK(driver.read_status() == drdy);
    CHECK(driver.inb(error) == 0);

    backend.failing_flush = true;
    driver.outb(command, flush_cache);
    CHECK(backend.flushes == 2);
    CHECK(line.asserted());
    CHECK(driver.read_status() == (drdy | df | err));
    CHECK(driver.inb(error) == abrt);
    CHECK(disk.statistics().errors == 1);
}

TEST_CASE("a command the disk does not implement is aborted", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    // NOP, READ SECTORS EXT, READ MULTIPLE, READ DMA, IDENTIFY PACKET DEVICE, SET FEATURES.
    for (int code : { 0x00, 0x24, 0xc4, 0xc8, 0xa1, 0xef }) {
        CAPTURE(code);
        driver.issue(static_cast<std::uint8_t>(code), 1, 1);
        CHECK(line.asserted());
        CHECK(driver.read_status() == (drdy | err));
        CHECK(driver.inb(error) == abrt);
    }
    CHECK(backend.reads + backend.writes + backend.flushes == 0);
    CHECK(disk.statistics().commands == 6);
    CHECK(disk.statistics().errors == 6);
}

TEST_CASE("device 1 is absent: its STATUS reads 0 and its commands abort", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    driver.outb(device, lba_mode | select_device_1);
    CHECK(driver.read_status() == 0);
    driver.issue(read_sectors, 1, 1, lba_mode | select_device_1);
    CHECK(driver.read_status() == 0); // still "nobody there"
    CHECK(line.asserted());      // and device 0's interrupt is not acknowledged by it
    CHECK(driver.inb(error) == abrt);
    driver.outb(command, identify_device);
    CHECK(driver.inw() == 0xffff);
    CHECK(backend.reads + backend.writes == 0);

    driver.outb(device, lba_mode);
    CHECK(driver.read_status() == (drdy | err));
    CHECK(!line.asserted());
    CHECK(disk.statistics().errors == 2);
    CHECK(disk.statistics().protocol_errors == 1);
}

TEST_CASE("selecting device 1 during a transfer pauses the DATA register", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    driver.issue(read_sectors, 2, 1);
    Sector bytes = driver.read_block(100);
    driver.outb(device, lba_mode | select_device_1);
    CHECK(driver.inw() == 0xffff);
    CHECK(disk.statistics().protocol_errors == 1);
    driver.outb(device, lba_mode);
    Sector rest = driver.read_block(156);
    bytes.insert(bytes.end(), rest.begin(), rest.end());
    CHECK(bytes == backend.sector_at(2));
    CHECK(driver.read_status() == drdy);
}

TEST_CASE("CHS addressing is refused: only LBA commands transfer sectors", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    for (std::uint8_t code : { read_sectors, write_sectors }) {
        for (std::uint8_t device_bits : { std::uint8_t { 0x00 }, std::uint8_t { 0xa0 } }) {
            CAPTURE(code, device_bits);
            driver.issue(code, 1, 1, device_bits);
            CHECK(driver.read_status() == (drdy | err));
            CHECK(driver.inb(error) == abrt);
        }
    }
    CHECK(backend.reads + backend.writes == 0);

    // IDENTIFY DEVICE addresses no sector, so it needs no LBA bit (Linux sends it with 0xa0).
    driver.outb(device, 0xa0);
    driver.outb(command, identify_device);
    CHECK(driver.read_status() == (drdy | drq));
    CHECK(driver.inw() == 0x0040);
}

TEST_CASE("DATA accesses that are not 16 bits wide are refused and counted", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);
    Sector expected = backend.sector_at(1);

    driver.inw(); // no transfer under way
    CHECK(disk.statistics().protocol_errors == 1);

    driver.issue(read_sectors, 1, 1);
    CHECK(driver.inb(data) == 0xff);
    std::array<std::uint8_t, 4> wide {};
    disk.read(data, wide);
    CHECK(wide == std::array<std::uint8_t, 4> { 0xff, 0xff, 0xff, 0xff });
    disk.read(data, std::span<std::uint8_t>()); // empty accesses do nothing at all
    disk.write(data, std::span<const std::uint8_t>());
    CHECK(disk.statistics().protocol_errors == 3);
    CHECK(driver.read_block() == expected); // the refused accesses did not move the transfer on

    Sector bytes = numbered_sector(8);
    driver.issue(write_sectors, 2, 1);
    driver.outb(data, 0x55);
    std::array<std::uint8_t, 4> wide_write { 1, 2, 3, 4 };
    disk.write(data, wide_write);
    driver.outw(0x1234); // the first word of the sector
    driver.inw();        // reading during a write transfer is refused too
    CHECK(disk.statistics().protocol_errors == 6);
    Sector rest(bytes.begin() + 2, bytes.end());
    driver.write_block(rest);
    CHECK(driver.read_status() == drdy);
    Sector written = backend.sector_at(2);
    CHECK(written[0] == 0x34);
    CHECK(written[1] == 0x12);
    CHECK(Sector(written.begin() + 2, written.end()) == rest);
}

TEST_CASE("the interrupt line follows INTRQ: raised per data block and completion, cleared by STATUS", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    SECTION("READ SECTORS: one interrupt per sector, none at the end of the data")
    {
        driver.issue(read_sectors, 1, 2);
        CHECK(line.asserted());
        driver.inb(error);
        driver.inb(lba_low);
        CHECK(line.asserted()); // only STATUS acknowledges it
        driver.read_status();
        CHECK(!line.asserted());
        driver.read_block();
        CHECK(line.asserted()); // the second sector is ready
        driver.read_status();
        driver.read_block();
        CHECK(!line.asserted());
        CHECK(line.levels() == std::vector<bool> { true, false, true, false });
    }
    SECTION("WRITE SECTORS: no interrupt for the first block, then one per sector written")
    {
        driver.issue(write_sectors, 1, 2);
        CHECK(!line.asserted());
        driver.write_block(numbered_sector(1));
        CHECK(line.asserted());
        driver.read_status();
        driver.write_block(numbered_sector(2));
        CHECK(line.asserted()); // completion
        driver.read_status();
        CHECK(line.levels() == std::vector<bool> { true, false, true, false });
    }
    SECTION("IDENTIFY DEVICE, FLUSH CACHE and errors raise it once")
    {
        driver.identify();
        CHECK(!line.asserted()); // identify() polled STATUS
        driver.outb(command, flush_cache);
        CHECK(line.asserted());
        driver.read_status();
        driver.issue(read_sectors, 100, 1);
        CHECK(line.asserted());
        CHECK(line.levels() == std::vector<bool> { true, false, true, false, true });
    }
    SECTION("writing COMMAND acknowledges an interrupt the guest did not")
    {
        driver.outb(command, flush_cache);
        CHECK(line.asserted());
        driver.outb(command, flush_cache);
        CHECK(line.asserted());
        CHECK(line.levels() == std::vector<bool> { true, false, true });
    }
}

TEST_CASE("a new command abandons an unfinished transfer", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);
    Sector old_sector = backend.sector_at(3);

    driver.issue(read_sectors, 1, 2);
    driver.read_block(100);
    auto words = driver.identify(); // starts at word 0 of its own data
    CHECK(words[0] == 0x0040);
    CHECK(ata_string(words, 27, 20) == "stepvmm legacy disk                     ");
    CHECK(driver.read_status() == drdy);
    CHECK(disk.statistics().sectors_read == 0);

    Sector new_sector = numbered_sector(3);
    driver.issue(write_sectors, 3, 1);
    driver.write_block(Sector(new_sector.begin(), new_sector.begin() + 200));
    driver.issue(read_sectors, 3, 1);
    REQUIRE(driver.read_status() == (drdy | drq));
    CHECK(driver.read_block() == old_sector); // the half-sent sector never reached the disk
    CHECK(backend.writes == 0);
    CHECK(disk.statistics().commands == 4);
}

TEST_CASE("wider accesses to the 8-bit registers reach consecutive registers and nothing past the window", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    std::array<std::uint8_t, 4> task_file { 0x02, 0x03, 0x00, 0x00 }; // count 2, LBA 3
    disk.write(sector_count, task_file);
    CHECK(driver.inb(sector_count) == 0x02);
    CHECK(driver.inb(lba_low) == 0x03);
    std::array<std::uint8_t, 4> read_back {};
    disk.read(sector_count, read_back);
    CHECK(read_back == task_file);

    std::array<std::uint8_t, 2> device_and_command { lba_mode, read_sectors };
    disk.write(device, device_and_command);
    CHECK(line.asserted());
    std::array<std::uint8_t, 4> tail {};
    disk.read(device, tail); // DEVICE, STATUS (acknowledging the interrupt), then two floating bytes
    CHECK(tail == std::array<std::uint8_t, 4> { lba_mode, drdy | drq, 0xff, 0xff });
    CHECK(!line.asserted());
    CHECK(driver.read_block() == backend.sector_at(3));

    driver.outb(8, read_sectors); // outside the window: ignored
    driver.outb(~std::uint64_t { 0 }, read_sectors);
    CHECK(driver.inb(8) == 0xff);
    CHECK(driver.inb(~std::uint64_t { 0 }) == 0xff);
    CHECK(disk.statistics().commands == 1);
    driver.outb(features, 0x77); // offset 1 is FEATURES when written and ERROR when read
    CHECK(driver.inb(error) == 0);
}

TEST_CASE("statistics count commands, errors and sectors", "[legacy_disk]")
{
    FakeBackend backend(16 * sector);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    driver.issue(write_sectors, 0, 2);
    driver.write_block(numbered_sector(0));
    driver.write_block(numbered_sector(1));
    driver.issue(read_sectors, 0, 3);
    driver.read_block();
    driver.read_block();
    driver.read_block();
    driver.issue(read_sectors, 15, 2); // IDNF
    driver.issue(0x91, 0, 0);          // INITIALIZE DEVICE PARAMETERS: not implemented
    driver.identify();

    const auto& statistics = disk.statistics();
    CHECK(statistics.commands == 5);
    CHECK(statistics.errors == 2);
    CHECK(statistics.sectors_written == 2);
    CHECK(statistics.sectors_read == 3);
    CHECK(statistics.protocol_errors == 0);
}

TEST_CASE("a hostile guest cannot crash the disk or make it touch bytes outside the disk", "[legacy_disk]")
{
    // 40 whole sectors and a partial one that must never be read or written.
    FakeBackend backend(40 * sector + 300);
    RecordingLine line;
    LegacyDisk disk("disk", backend, line);
    Driver driver(disk);

    // Three kinds of step, at random: any access at all; a plausible register write (small
    // LBAs and counts, real commands, sometimes device 1), so that commands start; and a burst
    // of 16-bit DATA accesses in either direction, so that transfers run, end and overrun.
    std::mt19937_64 generator(0x57e9);
    auto below = [&](std::uint64_t limit) { return generator() % limit; };
    const std::array<std::uint8_t, 6> commands { read_sectors, write_sectors, flush_cache, identify_device, 0x00, 0xff };
    std::array<std::uint8_t, 16> bytes {};
    for (int step = 0; step < 100000; ++step) {
        auto kind = below(20);
        if (kind < 3) {
            std::uint64_t offset = below(8) == 0 ? generator() : below(12);
            std::span<std::uint8_t> access(bytes.data(), 1 + below(below(4) == 0 ? bytes.size() : 2));
            for (auto& byte : access)
                byte = static_cast<std::uint8_t>(generator());
            if (below(2) == 0)
                disk.read(offset, access);
            else
                disk.write(offset, access);
        } else if (kind < 10) {
            std::uint64_t offset = 1 + below(7);
            auto value = static_cast<std::uint8_t>(generator());
            if (below(5) != 0) {
                switch (offset) {
                case command:
                    value = commands[below(commands.size())];
                    break;
                case device:
                    value = below(6) == 0 ? lba_mode | select_device_1 : lba_mode;
                    break;
                case sector_count:
                    value = static_cast<std::uint8_t>(1 + below(4));
                    break;
                case lba_low:
                    value = static_cast<std::uint8_t>(below(45));
                    break;
                default:
                    value = 0;
                    break;
                }
            }
            driver.outb(offset, value);
        } else {
            auto words = 1 + below(1100);
            bool reading = below(2) == 0;
            for (std::uint64_t word = 0; word < words; ++word) {
                if (reading)
                    driver.inw();
                else
                    driver.outw(static_cast<std::uint16_t>(generator()));
            }
        }
    }
    CHECK(backend.out_of_range_requests == 0);
    CHECK(backend.highest_end <= 40 * sector);
    // The steps reached every path worth reaching, or the test proves little.
    const auto& statistics = disk.statistics();
    CHECK(statistics.commands > 1000);
    CHECK(statistics.sectors_read > 50);
    CHECK(statistics.sectors_written > 50);
    CHECK(statistics.errors > 100);
    CHECK(backend.flushes > 100);

    // Afterwards the disk still works for a well-behaved driver.
    driver.identify();
    driver.read_status();
    driver.issue(read_sectors, 39, 1);
    REQUIRE(driver.read_status() == (drdy | drq));
    CHECK(driver.read_block() == backend.sector_at(39));
    CHECK(driver.read_status() == drdy);
}

TEST_CASE("READ SECTORS returns the bytes of a disk image file", "[legacy_disk][file_backend]")
{
    auto image_bytes = random_bytes(6 * sector + 100, 1);
    TemporaryFile image(image_bytes);
    backends::FileBackend file(image.path(), DiskAccess::ReadWrite);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", file, line);
    Driver driver(disk);
    REQUIRE(disk.capacity() == 6);

    driver.issue(read_sectors, 4, 2);
    Sector bytes = driver.read_block();
    Sector second = driver.read_block();
    bytes.insert(bytes.end(), second.begin(), second.end());
    CHECK(driver.read_status() == drdy);
    CHECK(bytes == slice(image_bytes, 4, 2));
}

TEST_CASE("WRITE SECTORS changes exactly the addressed bytes of the image file", "[legacy_disk][file_backend]")
{
    auto original = random_bytes(6 * sector + 100, 2);
    TemporaryFile image(original);
    {
        backends::FileBackend file(image.path(), DiskAccess::ReadWrite);
        io::UnconnectedLine line;
        LegacyDisk disk("disk", file, line);
        Driver driver(disk);

        driver.issue(write_sectors, 2, 2);
        driver.write_block(numbered_sector(20));
        driver.write_block(numbered_sector(21));
        CHECK(driver.read_status() == drdy);
        driver.outb(command, flush_cache);
        CHECK(driver.read_status() == drdy);
    }

    auto expected = original;
    std::copy_n(numbered_sector(20).begin(), sector, expected.begin() + 2 * sector);
    std::copy_n(numbered_sector(21).begin(), sector, expected.begin() + 3 * sector);
    auto contents = image.contents();
    REQUIRE(contents.size() == expected.size());
    for (std::size_t index = 0; index < contents.size(); ++index) {
        if (contents[index] != expected[index]) {
            CAPTURE(index);
            FAIL_CHECK("the image file differs at this byte");
            break;
        }
    }
    CHECK(contents == expected);
}

TEST_CASE("WRITE SECTORS to a read-only image file aborts and leaves the file unchanged", "[legacy_disk][file_backend]")
{
    auto original = random_bytes(4 * sector, 3);
    TemporaryFile image(original);
    backends::FileBackend file(image.path(), DiskAccess::ReadOnly);
    io::UnconnectedLine line;
    LegacyDisk disk("disk", file, line);
    Driver driver(disk);

    driver.issue(write_sectors, 1, 1);
    CHECK(driver.read_status() == (drdy | err));
    CHECK(driver.inb(error) == abrt);
    driver.write_block(numbered_sector(1));
    CHECK(image.contents() == original);
}
