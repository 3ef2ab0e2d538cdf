#pragma once
/// @file
/// A "legacy" disk controller: the register-level ATA PIO interface of a PC's IDE disk
/// (ATA/ATAPI-6 §7, the task-file registers; OSDev's "ATA PIO Mode" describes the same ones),
/// reduced to 28-bit LBA and four commands. Chapter 03 uses it to show why full device
/// emulation is slow: a guest moves a sector as 256 separate 16-bit reads or writes of the
/// DATA register, and on KVM every one of them is a VM exit. Chapter 06's virtio-blk moves
/// the same sector with one notification.

#include <stepvmm/backends/block_backend.hpp>
#include <stepvmm/io/device.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace stepvmm::devices {

/// What a LegacyDisk has done, for the chapter's exit statistics.
struct LegacyDiskStatistics {
    std::uint64_t sectors_read = 0;    ///< sectors the guest has read completely (all 256 words)
    std::uint64_t sectors_written = 0; ///< sectors the backend has accepted
    std::uint64_t commands = 0;        ///< writes of the COMMAND register
    std::uint64_t errors = 0;          ///< commands that ended with ERR set in STATUS
    /// DATA register accesses the protocol does not allow: not 16 bits wide, no transfer
    /// under way (DRQ clear), the wrong direction, or device 1 selected.
    std::uint64_t protocol_errors = 0;
};

/// Device 0 on an ATA channel, with no device 1: an eight-register window at the channel's
/// command block (the primary channel decodes 0x1f0..0x1f7). It implements READ SECTORS,
/// WRITE SECTORS, FLUSH CACHE and IDENTIFY DEVICE with 28-bit LBA addressing; every other
/// command is aborted. The device control register (0x3f6: software reset, nIEN) is not
/// part of the window; a guest leaves any state by writing a new command.
///
/// Commands complete synchronously, inside the guest's write of the COMMAND register (the
/// backend I/O runs on the vCPU thread), so BSY is never seen set.
///
/// Only READ SECTORS and WRITE SECTORS address sectors, so only they abort when the DEVICE
/// register asks for CHS (bit 6 clear); IDENTIFY DEVICE and FLUSH CACHE work either way, as
/// drivers (Linux's libata among them) send IDENTIFY with DEVICE = A0h.
///
/// INTRQ, the @p interrupt line, follows ATA/ATAPI-6 §9.4-9.6: it is raised when a block is
/// ready for the guest to read, when the device wants the second and later blocks of a write,
/// and when a command completes, except that the last block of a read ends its command
/// without one. Reading STATUS (with device 0 selected) or writing COMMAND lowers it; reading
/// ERROR does not.
///
/// The guest is hostile (house rule 3): any sequence of accesses of any width at any offset
/// is accepted, and the device never asks the backend for bytes outside the disk.
class LegacyDisk final : public io::Device {
public:
    static constexpr std::uint64_t sector_size = 512;
    /// 28-bit LBA addresses sectors 0 .. 2^28 - 1; a larger backend is cut to this.
    static constexpr std::uint64_t max_sectors = std::uint64_t { 1 } << 28;

    /// Serves @p backend (capacity: its size in whole sectors) and drives @p interrupt (INTRQ).
    /// Both must outlive the device.
    LegacyDisk(std::string name, backends::BlockBackend& backend, io::InterruptLine& interrupt);

    [[nodiscard]] std::string_view name() const override { return m_name; }
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    /// Addressable sectors: backend size / 512 (a trailing partial sector is not addressable),
    /// at most max_sectors.
    [[nodiscard]] std::uint64_t capacity() const { return m_capacity; }
    [[nodiscard]] const LegacyDiskStatistics& statistics() const { return m_statistics; }

private:
    /// What the DATA register is moving, if anything (DRQ is set exactly when not None).
    enum class Transfer {
        None,
        ReadSectors,  ///< device to guest, from the backend
        WriteSectors, ///< guest to device, to the backend
        Identify,     ///< device to guest, the IDENTIFY DEVICE data
    };

    /// The sectors a READ/WRITE SECTORS command addresses.
    struct SectorRange {
        std::uint64_t first;
        std::uint32_t count;
    };

    [[nodiscard]] bool device_1_selected() const;
    [[nodiscard]] std::uint8_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint8_t value);
    void read_data(std::span<std::uint8_t> data);
    void write_data(std::span<const std::uint8_t> data);

    void execute(std::uint8_t command);
    /// The task file's sector range, or std::nullopt after failing the command (CHS, IDNF).
    [[nodiscard]] std::optional<SectorRange> addressed_sectors();
    void start_read_sectors();
    void start_write_sectors();
    void flush_cache();
    void identify_device();
    void load_sector_for_guest();
    void complete_sector_to_guest();
    void store_sector_from_guest();

    void complete();
    void fail(std::uint8_t status, std::uint8_t error);
    void fail_for(backends::IoStatus result, std::uint8_t host_error_status, std::uint8_t host_error);
    void raise_interrupt();
    void lower_interrupt();

    std::string m_name;
    backends::BlockBackend& m_backend;
    io::InterruptLine& m_interrupt;
    std::uint64_t m_capacity;

    // The task file as the guest last wrote it (ATA/ATAPI-6 §7). FEATURES is kept as written,
    // though no implemented command uses it (offset 1 reads ERROR, not FEATURES).
    std::uint8_t m_features = 0;
    std::uint8_t m_sector_count;
    std::uint8_t m_lba_low;
    std::uint8_t m_lba_mid = 0;
    std::uint8_t m_lba_high = 0;
    std::uint8_t m_device = 0;
    std::uint8_t m_status;
    std::uint8_t m_error;
    bool m_interrupt_pending = false;

    // The transfer under way: the sector in m_buffer, the sectors still to move (counting
    // that one) and the next word of m_buffer the DATA register moves.
    Transfer m_transfer = Transfer::None;
    std::uint64_t m_sector = 0;
    std::uint32_t m_sectors_left = 0;
    std::size_t m_word = 0;
    std::array<std::uint8_t, sector_size> m_buffer {};

    LegacyDiskStatistics m_statistics;
};

} // namespace stepvmm::devices
