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

/// What write_zeroes() may do with the range.
enum class ZeroingMode {
    KeepAllocated, ///< the zeros must stay allocated (later writes cannot fail for lack of space)
    MayDeallocate, ///< the range may become a hole that reads back as zeros
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
    /// The guest no longer needs the range: its contents become unspecified (a hole in a file).
    virtual IoStatus discard(std::uint64_t offset, std::uint64_t length) = 0;
    /// The range reads back as zeros afterwards.
    virtual IoStatus write_zeroes(std::uint64_t offset, std::uint64_t length, ZeroingMode mode) = 0;
};

} // namespace stepvmm::backends
