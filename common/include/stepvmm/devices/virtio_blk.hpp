#pragma once
/// @file
/// virtio-blk (virtio 1.2 §5.2): a block device whose requests travel through one split
/// virtqueue instead of one VM exit per register access (chapter 03's LegacyDisk).
///
/// The device knows its backend (kvmtool's disk/raw.c split: backends/), not its transport.
/// process_queue() does the I/O on the calling thread; chapter 06 calls it from a device
/// thread woken by an ioeventfd, so disk I/O never runs on the vCPU thread.

#include <stepvmm/backends/block_backend.hpp>
#include <stepvmm/virtio/device.hpp>
#include <stepvmm/virtio/split_queue.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace stepvmm::devices {

/// Numbers from virtio 1.2 §5.2.
namespace virtio_blk {
inline constexpr std::uint64_t sector_size = 512;
/// Feature bits (§5.2.3).
inline constexpr unsigned feature_seg_max = 2;
inline constexpr unsigned feature_read_only = 5;
inline constexpr unsigned feature_blk_size = 6;
inline constexpr unsigned feature_flush = 9;
inline constexpr unsigned feature_discard = 13;
inline constexpr unsigned feature_write_zeroes = 14;
/// Request types (§5.2.6).
inline constexpr std::uint32_t request_in = 0;
inline constexpr std::uint32_t request_out = 1;
inline constexpr std::uint32_t request_flush = 4;
inline constexpr std::uint32_t request_get_id = 8;
inline constexpr std::uint32_t request_discard = 11;
inline constexpr std::uint32_t request_write_zeroes = 13;
/// Status codes (§5.2.6).
inline constexpr std::uint8_t status_ok = 0;
inline constexpr std::uint8_t status_io_error = 1;
inline constexpr std::uint8_t status_unsupported = 2;
/// Bytes of the request header (type, reserved, sector) and of a discard/write-zeroes segment.
inline constexpr std::uint64_t header_size = 16;
inline constexpr std::uint64_t segment_size = 16;
inline constexpr std::uint64_t id_size = 20;
/// Segment flag: the range may be deallocated (§5.2.6, virtio_blk_discard_write_zeroes).
inline constexpr std::uint32_t segment_flag_unmap = 1;
/// Offsets in the configuration space (§5.2.4).
inline constexpr std::uint64_t config_capacity = 0;
inline constexpr std::uint64_t config_seg_max = 12;
inline constexpr std::uint64_t config_blk_size = 20;
inline constexpr std::uint64_t config_max_discard_sectors = 36;
inline constexpr std::uint64_t config_max_discard_seg = 40;
inline constexpr std::uint64_t config_discard_sector_alignment = 44;
inline constexpr std::uint64_t config_max_write_zeroes_sectors = 48;
inline constexpr std::uint64_t config_max_write_zeroes_seg = 52;
inline constexpr std::uint64_t config_write_zeroes_may_unmap = 56;
inline constexpr std::uint64_t config_size = 60;
} // namespace virtio_blk

/// What the device did, for the chapter's summary.
struct VirtioBlkStatistics {
    std::uint64_t requests = 0;
    std::uint64_t reads = 0, writes = 0, flushes = 0, get_ids = 0, discards = 0, write_zeroes = 0;
    std::uint64_t unsupported = 0, io_errors = 0;
    std::uint64_t bytes_read = 0, bytes_written = 0;
    std::uint64_t queue_passes = 0;           ///< process_queue() calls
    std::uint64_t notifications_sent = 0;     ///< used buffer notifications
    std::uint64_t notifications_suppressed = 0; ///< passes that completed requests but the driver asked for no interrupt
};

class VirtioBlk final : public virtio::VirtioDevice {
public:
    /// @p serial is what GET_ID answers (truncated to 20 bytes). The backend must outlive the device.
    VirtioBlk(std::string name, backends::BlockBackend& backend, std::string serial);

    [[nodiscard]] std::string_view name() const override { return m_name; }
    [[nodiscard]] virtio::DeviceType type() const override { return virtio::DeviceType::Block; }
    [[nodiscard]] std::uint64_t offered_features() const override;
    [[nodiscard]] std::uint16_t queue_count() const override { return 1; }
    [[nodiscard]] std::uint16_t queue_max_size() const override { return max_queue_size; }
    void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const override;
    void write_config(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    void activate(const virtio::ActiveDevice& device) override;
    void process_queue(std::uint16_t queue_index) override;
    void reset() override;

    [[nodiscard]] const VirtioBlkStatistics& statistics() const { return m_statistics; }

    static constexpr std::uint16_t max_queue_size = 256;
    /// Data segments per request (config seg_max): header and status take two descriptors.
    static constexpr std::uint32_t max_segments = max_queue_size - 2;
    static constexpr std::uint32_t max_discard_sectors = 1U << 22; // 2 GiB per segment
    static constexpr std::uint32_t max_discard_segments = 16;

private:
    struct Outcome {
        std::uint8_t status;
        std::uint32_t data_bytes_written;
    };
    Outcome handle(const virtio::DescriptorChain& chain, std::uint32_t type, std::uint64_t sector);
    Outcome read_sectors(const virtio::BufferStream& data, std::uint64_t sector, std::uint64_t length);
    Outcome write_sectors(const virtio::BufferStream& data, std::uint64_t sector);
    Outcome discard_or_zero(const virtio::BufferStream& segments, std::uint32_t type);
    [[nodiscard]] bool sectors_inside(std::uint64_t sector, std::uint64_t bytes) const;
    [[nodiscard]] std::array<std::uint8_t, virtio_blk::config_size> config_bytes() const;

    std::string m_name;
    backends::BlockBackend& m_backend;
    std::string m_serial;
    std::optional<virtio::ActiveDevice> m_active;
    VirtioBlkStatistics m_statistics;
};

} // namespace stepvmm::devices
