#include <stepvmm/devices/legacy_disk.hpp>

#include <algorithm>

namespace stepvmm::devices {

namespace {

// Command block register offsets (ATA/ATAPI-6 §7, "Interface register definitions"). Offsets 1
// and 7 are two registers each: ERROR/FEATURES and STATUS/COMMAND, read/write.
constexpr std::uint64_t data_register = 0;
constexpr std::uint64_t error_register = 1;
constexpr std::uint64_t sector_count_register = 2;
constexpr std::uint64_t lba_low_register = 3;
constexpr std::uint64_t lba_mid_register = 4;
constexpr std::uint64_t lba_high_register = 5;
constexpr std::uint64_t device_register = 6;
constexpr std::uint64_t status_register = 7;
constexpr std::uint64_t register_count = 8;

// STATUS bits (ATA/ATAPI-6 §7, Status register). BSY (0x80) is absent on purpose: commands
// complete before the guest's COMMAND write returns, so the device is never busy.
constexpr std::uint8_t status_ready = 0x40;        // DRDY
constexpr std::uint8_t status_device_fault = 0x20; // DF
constexpr std::uint8_t status_data_request = 0x08; // DRQ
constexpr std::uint8_t status_error = 0x01;        // ERR: the ERROR register says why

// ERROR bits (ATA/ATAPI-6 §7, Error register).
constexpr std::uint8_t error_uncorrectable = 0x40; // UNC: the data could not be read
constexpr std::uint8_t error_id_not_found = 0x10;  // IDNF: the address is not on the disk
constexpr std::uint8_t error_aborted = 0x04;       // ABRT: command refused

// DEVICE register bits (ATA/ATAPI-6 §7, Device register).
constexpr std::uint8_t device_lba_mode = 0x40;
constexpr std::uint8_t device_select_1 = 0x10;
constexpr std::uint8_t device_lba_27_24 = 0x0f;

// The commands this device implements (ATA/ATAPI-6 §8, by name).
constexpr std::uint8_t command_read_sectors = 0x20;
constexpr std::uint8_t command_write_sectors = 0x30;
constexpr std::uint8_t command_flush_cache = 0xe7;
constexpr std::uint8_t command_identify_device = 0xec;

constexpr std::size_t words_per_sector = LegacyDisk::sector_size / 2;

// ATA strings put the first character of each pair in the high byte of a word, so a
// little-endian reader sees every pair swapped; unused characters are spaces
// (ATA/ATAPI-6 §8, IDENTIFY DEVICE: serial number, firmware revision, model number).
void put_ata_string(std::array<std::uint16_t, words_per_sector>& words, std::size_t first_word, std::size_t word_count, std::string_view text)
{
    for (std::size_t index = 0; index < word_count * 2; ++index) {
        auto character = static_cast<std::uint8_t>(index < text.size() ? text[index] : ' ');
        std::uint16_t& word = words[first_word + index / 2];
        if (index % 2 == 0)
            word = static_cast<std::uint16_t>((word & 0x00ff) | (character << 8));
        else
            word = static_cast<std::uint16_t>((word & 0xff00) | character);
    }
}

// The 256 words IDENTIFY DEVICE returns (ATA/ATAPI-6 §8, IDENTIFY DEVICE, its word table);
// words not set here are zero ("not reported"). No CHS geometry: CHS is not supported.
std::array<std::uint8_t, LegacyDisk::sector_size> identify_device_data(std::uint64_t capacity)
{
    std::array<std::uint16_t, words_per_sector> words {};
    words[0] = 0x0040; // bit 15 clear: an ATA (not packet) device; bit 6: not removable
    put_ata_string(words, 10, 10, "STEPVMM0001");
    put_ata_string(words, 23, 4, "0.1");
    put_ata_string(words, 27, 20, "stepvmm legacy disk");
    words[47] = 0x8001; // bits 15:8 are 80h by definition; at most 1 sector per READ/WRITE MULTIPLE block
    words[49] = 1 << 9; // LBA supported
    // Words 60-61: total sectors addressable with 28-bit commands, low word first.
    words[60] = static_cast<std::uint16_t>(capacity & 0xffff);
    words[61] = static_cast<std::uint16_t>(capacity >> 16);

    std::array<std::uint8_t, LegacyDisk::sector_size> bytes {};
    for (std::size_t index = 0; index < words.size(); ++index) {
        bytes[2 * index] = static_cast<std::uint8_t>(words[index] & 0xff);
        bytes[2 * index + 1] = static_cast<std::uint8_t>(words[index] >> 8);
    }
    return bytes;
}

}

LegacyDisk::LegacyDisk(std::string name, backends::BlockBackend& backend, io::InterruptLine& interrupt)
    : m_name(std::move(name))
    , m_backend(backend)
    , m_interrupt(interrupt)
    , m_capacity(std::min(backend.size() / sector_size, max_sectors))
    // After power-on an ATA device shows its signature in the task file and the diagnostic
    // code 01h ("device 0 passed, device 1 absent") in ERROR (ATA/ATAPI-6 §9.1, power-on and
    // hardware reset protocol; §9.12, signature).
    , m_sector_count(1)
    , m_lba_low(1)
    , m_status(status_ready)
    , m_error(0x01)
{
}

bool LegacyDisk::device_1_selected() const { return (m_device & device_select_1) != 0; }

void LegacyDisk::read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    if (offset == data_register && !data.empty()) {
        read_data(data);
        return;
    }
    // Only DATA is 16 bits wide; the other registers are 8-bit.
    io::read_byte_registers(offset, data, register_count, [this](std::uint64_t index) { return read_register(index); });
}

void LegacyDisk::write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    if (offset == data_register && !data.empty()) {
        write_data(data);
        return;
    }
    io::write_byte_registers(offset, data, register_count, [this](std::uint64_t index, std::uint8_t value) { write_register(index, value); });
}

std::uint8_t LegacyDisk::read_register(std::uint64_t offset)
{
    switch (offset) {
    case error_register:
        return m_error; // reading ERROR leaves a pending interrupt pending
    case sector_count_register:
        return m_sector_count;
    case lba_low_register:
        return m_lba_low;
    case lba_mid_register:
        return m_lba_mid;
    case lba_high_register:
        return m_lba_high;
    case device_register:
        return m_device;
    case status_register:
        // With device 1 selected and absent, device 0 answers STATUS reads with 00h for it
        // (ATA/ATAPI-6, single-device configurations): that is how drivers see "no slave".
        // Device 0's own pending interrupt is not acknowledged by such a read.
        if (device_1_selected())
            return 0;
        // Reading STATUS acknowledges the interrupt (ATA/ATAPI-6 §7, Status register).
        lower_interrupt();
        return m_status;
    default:
        return io::floating_bus; // offset 0 (DATA) never gets here
    }
}

void LegacyDisk::write_register(std::uint64_t offset, std::uint8_t value)
{
    // The task file keeps what the guest wrote even during a transfer: the transfer under way
    // latched its address and count when its command started.
    switch (offset) {
    case error_register:
        m_features = value;
        break;
    case sector_count_register:
        m_sector_count = value;
        break;
    case lba_low_register:
        m_lba_low = value;
        break;
    case lba_mid_register:
        m_lba_mid = value;
        break;
    case lba_high_register:
        m_lba_high = value;
        break;
    case device_register:
        m_device = value;
        break;
    case status_register:
        execute(value);
        break;
    default:
        break;
    }
}

void LegacyDisk::read_data(std::span<std::uint8_t> data)
{
    bool device_to_guest = m_transfer == Transfer::ReadSectors || m_transfer == Transfer::Identify;
    if (data.size() != 2 || !device_to_guest || device_1_selected()) {
        ++m_statistics.protocol_errors;
        std::fill(data.begin(), data.end(), io::floating_bus);
        return;
    }
    // The DATA register holds one little-endian word of the sector.
    data[0] = m_buffer[2 * m_word];
    data[1] = m_buffer[2 * m_word + 1];
    if (++m_word == words_per_sector)
        complete_sector_to_guest();
}

void LegacyDisk::write_data(std::span<const std::uint8_t> data)
{
    if (data.size() != 2 || m_transfer != Transfer::WriteSectors || device_1_selected()) {
        ++m_statistics.protocol_errors;
        return;
    }
    m_buffer[2 * m_word] = data[0];
    m_buffer[2 * m_word + 1] = data[1];
    if (++m_word == words_per_sector)
        store_sector_from_guest();
}

void LegacyDisk::execute(std::uint8_t command)
{
    ++m_statistics.commands;
    // A new command abandons any transfer under way (a real driver would reset the channel
    // first; without the device control register this is the guest's only way out) and
    // acknowledges a pending interrupt (ATA/ATAPI-6 §5, INTRQ: cleared by a write of the
    // Command register).
    m_transfer = Transfer::None;
    m_status = status_ready;
    m_error = 0;
    lower_interrupt();

    if (device_1_selected()) {
        fail(0, error_aborted); // there is no device 1 to run it
        return;
    }
    switch (command) {
    case command_read_sectors:
        start_read_sectors();
        break;
    case command_write_sectors:
        start_write_sectors();
        break;
    case command_flush_cache:
        flush_cache();
        break;
    case command_identify_device:
        identify_device();
        break;
    default:
        fail(0, error_aborted); // not implemented: ABRT is what ATA prescribes
        break;
    }
}

std::optional<LegacyDisk::SectorRange> LegacyDisk::addressed_sectors()
{
    // Only LBA addressing (ATA/ATAPI-6 §7, Device register bit 6); CHS is not translated.
    if ((m_device & device_lba_mode) == 0) {
        fail(0, error_aborted);
        return std::nullopt;
    }
    std::uint64_t first = static_cast<std::uint64_t>(m_device & device_lba_27_24) << 24 | static_cast<std::uint64_t>(m_lba_high) << 16
        | static_cast<std::uint64_t>(m_lba_mid) << 8 | m_lba_low;
    std::uint32_t count = m_sector_count == 0 ? 256 : m_sector_count; // 0 means 256 (ATA/ATAPI-6 §8, READ SECTORS)
    // The whole range is checked before anything moves, so a range that runs off the end of
    // the disk transfers nothing (Firecracker's "validate first, then do the I/O").
    if (first + count > m_capacity) {
        fail(0, error_id_not_found);
        return std::nullopt;
    }
    return SectorRange { first, count };
}

void LegacyDisk::start_read_sectors()
{
    auto range = addressed_sectors();
    if (!range)
        return;
    m_transfer = Transfer::ReadSectors;
    m_sector = range->first;
    m_sectors_left = range->count;
    load_sector_for_guest();
}

void LegacyDisk::start_write_sectors()
{
    if (m_backend.read_only()) {
        fail(0, error_aborted); // refused before the guest sends any data
        return;
    }
    auto range = addressed_sectors();
    if (!range)
        return;
    m_transfer = Transfer::WriteSectors;
    m_sector = range->first;
    m_sectors_left = range->count;
    m_word = 0;
    m_status = status_ready | status_data_request;
    // No interrupt for the first block of a PIO data-out command: the host polls for DRQ
    // (ATA/ATAPI-6 §9.6, PIO data-out command protocol).
}

void LegacyDisk::flush_cache()
{
    auto result = m_backend.flush();
    if (result != backends::IoStatus::Ok) {
        fail_for(result, status_device_fault, error_aborted);
        return;
    }
    complete();
}

void LegacyDisk::identify_device()
{
    m_buffer = identify_device_data(m_capacity);
    m_transfer = Transfer::Identify;
    m_word = 0;
    m_status = status_ready | status_data_request;
    raise_interrupt(); // a PIO data-in block is ready (ATA/ATAPI-6 §9.5)
}

void LegacyDisk::load_sector_for_guest()
{
    auto result = m_backend.read(m_sector * sector_size, m_buffer);
    if (result != backends::IoStatus::Ok) {
        fail_for(result, 0, error_uncorrectable);
        return;
    }
    m_word = 0;
    m_status = status_ready | status_data_request;
    raise_interrupt(); // every PIO data-in block announces itself (ATA/ATAPI-6 §9.5)
}

void LegacyDisk::complete_sector_to_guest()
{
    if (m_transfer == Transfer::ReadSectors) {
        ++m_statistics.sectors_read;
        ++m_sector;
        --m_sectors_left;
        if (m_sectors_left > 0) {
            load_sector_for_guest();
            return;
        }
    }
    // The last data-in block is the end of the command, and ATA asserts no interrupt for it:
    // the host already knows (ATA/ATAPI-6 §9.5, PIO data-in command protocol).
    m_transfer = Transfer::None;
    m_status = status_ready;
}

void LegacyDisk::store_sector_from_guest()
{
    auto result = m_backend.write(m_sector * sector_size, m_buffer);
    if (result != backends::IoStatus::Ok) {
        fail_for(result, status_device_fault, error_aborted);
        return;
    }
    ++m_statistics.sectors_written;
    ++m_sector;
    --m_sectors_left;
    if (m_sectors_left == 0) {
        complete();
        return;
    }
    // DRQ stays set for the next block, and this time it is announced (ATA/ATAPI-6 §9.6).
    m_word = 0;
    raise_interrupt();
}

void LegacyDisk::complete()
{
    m_transfer = Transfer::None;
    m_status = status_ready;
    raise_interrupt();
}

void LegacyDisk::fail(std::uint8_t status, std::uint8_t error)
{
    ++m_statistics.errors;
    m_transfer = Transfer::None;
    m_status = static_cast<std::uint8_t>(status_ready | status_error | status);
    m_error = error;
    raise_interrupt(); // a command that ends in an error still ends (ATA/ATAPI-6 §9.4-9.6)
}

void LegacyDisk::fail_for(backends::IoStatus result, std::uint8_t host_error_status, std::uint8_t host_error)
{
    switch (result) {
    case backends::IoStatus::OutOfRange:
        fail(0, error_id_not_found); // the backend disagrees with the capacity: still "no such sector"
        break;
    case backends::IoStatus::ReadOnly:
        fail(0, error_aborted);
        break;
    case backends::IoStatus::Ok:
    case backends::IoStatus::IoError:
        fail(host_error_status, host_error);
        break;
    }
}

void LegacyDisk::raise_interrupt()
{
    if (m_interrupt_pending)
        return;
    m_interrupt_pending = true;
    m_interrupt.set_level(true);
}

void LegacyDisk::lower_interrupt()
{
    if (!m_interrupt_pending)
        return;
    m_interrupt_pending = false;
    m_interrupt.set_level(false);
}

} // namespace stepvmm::devices
