#pragma once
/// @file
/// Where a disk's bytes live. Device models (the chapter-03 legacy disk, virtio-blk) talk to
/// this interface and never to a file directly (kvmtool's split of virtio/blk.c and disk/raw.c).

#include <cstdint>
#include <span>

namespace stepvmm::backends {

/// Outcome of one backend operation; device models map it to their own status codes.
enum class IoStatus {
    Ok,
    OutOfRange, ///< the range is not inside the disk
    ReadOnly,   ///< a write to a read-only disk
    IoError,    ///< the host I/O failed
};

/// A disk image of fixed size, addressed in bytes.
class BlockBackend {
public:
    virtual ~BlockBackend() = default;

    [[nodiscard]] virtual std::uint64_t size() const = 0;
    [[nodiscard]] virtual bool read_only() const = 0;

    virtual IoStatus read(std::uint64_t offset, std::span<std::uint8_t> data) = 0;
    virtual IoStatus write(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;
    /// Makes every completed write durable (fdatasync for a file).
    virtual IoStatus flush() = 0;
};

} // namespace stepvmm::backends
