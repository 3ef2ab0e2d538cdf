#include <stepvmm/devices/virtio_blk.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

namespace stepvmm::devices {

using namespace virtio_blk;
using backends::IoStatus;

namespace {

template<typename T>
void put(std::span<std::uint8_t> bytes, std::uint64_t offset, T value)
{
    std::memcpy(bytes.data() + offset, &value, sizeof value); // config space is little-endian (§5.2.4), as is x86
}

template<typename T>
T get(std::span<const std::uint8_t> bytes, std::uint64_t offset)
{
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

std::uint8_t status_for(IoStatus status)
{
    return status == IoStatus::Ok ? status_ok : status_io_error;
}

} // namespace

VirtioBlk::VirtioBlk(std::string name, backends::BlockBackend& backend, std::string serial)
    : m_name(std::move(name))
    , m_backend(backend)
    , m_serial(std::move(serial))
{
    if (m_serial.size() > id_size)
        m_serial.resize(id_size);
}

std::uint64_t VirtioBlk::offered_features() const
{
    using virtio::feature_bit;
    std::uint64_t features = feature_bit(virtio::feature::version_1) | feature_bit(virtio::feature::event_idx)
        | feature_bit(virtio::feature::indirect_desc) | feature_bit(feature_seg_max) | feature_bit(feature_blk_size)
        | feature_bit(feature_flush) | feature_bit(feature_discard) | feature_bit(feature_write_zeroes);
    if (m_backend.read_only())
        features |= feature_bit(feature_read_only);
    return features;
}

std::array<std::uint8_t, config_size> VirtioBlk::config_bytes() const
{
    std::array<std::uint8_t, config_size> bytes {};
    put<std::uint64_t>(bytes, config_capacity, m_backend.size() / sector_size);
    put<std::uint32_t>(bytes, config_seg_max, max_segments);
    put<std::uint32_t>(bytes, config_blk_size, static_cast<std::uint32_t>(sector_size));
    put<std::uint32_t>(bytes, config_max_discard_sectors, max_discard_sectors);
    put<std::uint32_t>(bytes, config_max_discard_seg, max_discard_segments);
    put<std::uint32_t>(bytes, config_discard_sector_alignment, 1);
    put<std::uint32_t>(bytes, config_max_write_zeroes_sectors, max_discard_sectors);
    put<std::uint32_t>(bytes, config_max_write_zeroes_seg, max_discard_segments);
    put<std::uint8_t>(bytes, config_write_zeroes_may_unmap, 1);
    return bytes;
}

void VirtioBlk::read_config(std::uint64_t offset, std::span<std::uint8_t> data) const
{
    auto bytes = config_bytes();
    for (std::size_t index = 0; index < data.size(); ++index)
        data[index] = offset < bytes.size() && index < bytes.size() - offset ? bytes[offset + index] : 0;
}

void VirtioBlk::write_config(std::uint64_t, std::span<const std::uint8_t>)
{
    // Every field of §5.2.4 we offer is read-only for the driver (writeback needs CONFIG_WCE).
}

void VirtioBlk::activate(const virtio::ActiveDevice& device) { m_active.emplace(device); }

void VirtioBlk::reset() { m_active.reset(); }

bool VirtioBlk::sectors_inside(std::uint64_t sector, std::uint64_t bytes) const
{
    std::uint64_t capacity = m_backend.size() / sector_size;
    std::uint64_t count = bytes / sector_size;
    return sector <= capacity && count <= capacity - sector;
}

void VirtioBlk::process_queue(std::uint16_t queue_index)
{
    if (!m_active || queue_index != 0)
        return;
    const GuestMemory& memory = m_active->memory;
    virtio::SplitQueue& queue = m_active->queues[0];
    ++m_statistics.queue_passes;
    bool completed_any = false;
    while (auto chain = queue.pop(memory)) {
        // Firecracker's order: take the request apart and check it all before any I/O.
        virtio::BufferStream readable = chain->readable_stream(memory);
        virtio::BufferStream writable = chain->writable_stream(memory);
        if (writable.size() == 0)
            // No byte to put a status in: the request cannot be answered at all, which only a
            // device reset can recover from (§2.1.2 NEEDS_RESET); DeviceState does that.
            throw virtio::DriverError(fmt::format("virtio-blk request {} has no device-writable status byte", chain->head));
        Outcome outcome { status_io_error, 0 };
        if (readable.size() < header_size) {
            outcome.status = status_io_error; // §5.2.6: the header is 16 device-readable bytes
        } else {
            std::array<std::uint8_t, header_size> header {};
            readable.read(0, header);
            outcome = handle(*chain, get<std::uint32_t>(header, 0), get<std::uint64_t>(header, 8));
        }
        ++m_statistics.requests;
        if (outcome.status == status_io_error)
            ++m_statistics.io_errors;
        else if (outcome.status == status_unsupported)
            ++m_statistics.unsupported;
        // The status is the last device-writable byte (§5.2.6), written last of all.
        writable.write(writable.size() - 1, std::span(&outcome.status, 1));
        queue.add_used(memory, chain->head, outcome.data_bytes_written + 1);
        completed_any = true;
    }
    if (!completed_any)
        return;
    if (queue.should_notify_driver(memory)) {
        ++m_statistics.notifications_sent;
        m_active->interrupts.used_buffer(0);
    } else {
        ++m_statistics.notifications_suppressed;
    }
}

VirtioBlk::Outcome VirtioBlk::handle(const virtio::DescriptorChain& chain, std::uint32_t type, std::uint64_t sector)
{
    const GuestMemory& memory = m_active->memory;
    virtio::BufferStream readable = chain.readable_stream(memory);
    virtio::BufferStream writable = chain.writable_stream(memory);
    std::uint64_t readable_data = readable.size() - header_size;
    std::uint64_t writable_data = writable.size() - 1;
    // Data descriptors, as the driver counts them against seg_max: all but header and status.
    if (chain.descriptor_count > max_segments + 2)
        return { status_io_error, 0 };

    // Each type has one shape: which side carries data. A request of another shape (data on
    // the wrong side, or on both) is refused before anything is read or written.
    auto only_readable_data = [&] { return writable_data == 0; };
    auto only_writable_data = [&] { return readable_data == 0; };
    switch (type) {
    case request_in:
        if (!only_writable_data() || writable_data % sector_size || !sectors_inside(sector, writable_data))
            return { status_io_error, 0 };
        ++m_statistics.reads;
        return read_sectors(writable, sector, writable_data);
    case request_out:
        if (!only_readable_data() || readable_data % sector_size || !sectors_inside(sector, readable_data))
            return { status_io_error, 0 };
        ++m_statistics.writes;
        // §5.2.6.2: a read-only device answers a write with IOERR and writes nothing.
        if (m_backend.read_only())
            return { status_io_error, 0 };
        return write_sectors(readable, sector);
    case request_flush:
        if (readable_data || writable_data)
            return { status_io_error, 0 };
        ++m_statistics.flushes;
        return { status_for(m_backend.flush()), 0 }; // FLUSH means the data is on stable storage: fdatasync
    case request_get_id: {
        if (readable_data)
            return { status_io_error, 0 };
        ++m_statistics.get_ids;
        // §5.2.6: up to 20 bytes, NUL-padded when the serial is shorter.
        std::array<std::uint8_t, id_size> id {};
        std::memcpy(id.data(), m_serial.data(), m_serial.size());
        auto length = static_cast<std::uint32_t>(std::min<std::uint64_t>(writable_data, id_size));
        writable.write(0, std::span(id).first(length));
        return { status_ok, length };
    }
    case request_discard:
    case request_write_zeroes:
        if (!only_readable_data() || readable_data == 0 || readable_data % segment_size)
            return { status_io_error, 0 };
        if (type == request_discard)
            ++m_statistics.discards;
        else
            ++m_statistics.write_zeroes;
        return discard_or_zero(readable, type);
    default:
        return { status_unsupported, 0 };
    }
}

VirtioBlk::Outcome VirtioBlk::read_sectors(const virtio::BufferStream& data, std::uint64_t sector, std::uint64_t length)
{
    // Straight from the disk into the guest's buffers: no bounce copy.
    std::uint64_t offset = sector * sector_size;
    std::uint64_t done = 0;
    for (std::span<std::uint8_t> piece : data.host_spans(0, length)) {
        if (IoStatus status = m_backend.read(offset + done, piece); status != IoStatus::Ok)
            return { status_io_error, static_cast<std::uint32_t>(done) };
        done += piece.size();
    }
    m_statistics.bytes_read += done;
    return { status_ok, static_cast<std::uint32_t>(done) };
}

VirtioBlk::Outcome VirtioBlk::write_sectors(const virtio::BufferStream& data, std::uint64_t sector)
{
    std::uint64_t offset = sector * sector_size;
    std::uint64_t length = data.size() - header_size;
    std::uint64_t done = 0;
    for (std::span<std::uint8_t> piece : data.host_spans(header_size, length)) {
        if (IoStatus status = m_backend.write(offset + done, piece); status != IoStatus::Ok)
            return { status_io_error, 0 };
        done += piece.size();
    }
    m_statistics.bytes_written += done;
    return { status_ok, 0 };
}

VirtioBlk::Outcome VirtioBlk::discard_or_zero(const virtio::BufferStream& readable, std::uint32_t type)
{
    std::uint64_t count = (readable.size() - header_size) / segment_size;
    if (count > max_discard_segments)
        return { status_io_error, 0 };
    struct Segment {
        std::uint64_t sector;
        std::uint32_t sectors;
        std::uint32_t flags;
    };
    std::vector<Segment> segments;
    for (std::uint64_t index = 0; index < count; ++index) {
        std::array<std::uint8_t, segment_size> raw {};
        readable.read(header_size + index * segment_size, raw);
        Segment segment { get<std::uint64_t>(raw, 0), get<std::uint32_t>(raw, 8), get<std::uint32_t>(raw, 12) };
        // §5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP; too long is IOERR.
        if ((segment.flags & ~segment_flag_unmap) || (type == request_discard && (segment.flags & segment_flag_unmap)))
            return { status_unsupported, 0 };
        if (segment.sectors > max_discard_sectors || !sectors_inside(segment.sector, std::uint64_t { segment.sectors } * sector_size))
            return { status_io_error, 0 };
        segments.push_back(segment);
    }
    if (m_backend.read_only())
        return { status_io_error, 0 };
    for (const Segment& segment : segments) {
        std::uint64_t offset = segment.sector * sector_size, length = std::uint64_t { segment.sectors } * sector_size;
        IoStatus status = type == request_discard
            ? m_backend.discard(offset, length)
            : m_backend.write_zeroes(offset, length,
                (segment.flags & segment_flag_unmap) ? backends::ZeroingMode::MayDeallocate : backends::ZeroingMode::KeepAllocated);
        if (status != IoStatus::Ok)
            return { status_io_error, 0 };
    }
    return { status_ok, 0 };
}

} // namespace stepvmm::devices
