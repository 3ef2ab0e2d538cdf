#pragma once
/// @file
/// A disk image in a host file (raw format), read and written with pread/pwrite.

#include <stepvmm/backends/block_backend.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <filesystem>

namespace stepvmm::backends {

/// Whether the guest may write the disk.
enum class DiskAccess {
    ReadWrite,
    ReadOnly,
};

/// A raw disk image file. The disk's size is the file's size at open time.
class FileBackend final : public BlockBackend {
public:
    /// Opens @p path; a missing or unopenable file is one SystemError naming the path.
    FileBackend(const std::filesystem::path& path, DiskAccess access);

    [[nodiscard]] std::uint64_t size() const override { return m_size; }
    [[nodiscard]] bool read_only() const override { return m_access == DiskAccess::ReadOnly; }

    IoStatus read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    IoStatus write(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    IoStatus flush() override;
    /// Punches a hole (fallocate PUNCH_HOLE); where the file system cannot, it does nothing,
    /// which discard's "contents unspecified" allows.
    IoStatus discard(std::uint64_t offset, std::uint64_t length) override;
    /// fallocate ZERO_RANGE or PUNCH_HOLE; where the file system refuses both, writes zeros.
    IoStatus write_zeroes(std::uint64_t offset, std::uint64_t length, ZeroingMode mode) override;

private:
    [[nodiscard]] bool in_range(std::uint64_t offset, std::uint64_t length) const;

    UniqueFd m_fd;
    std::uint64_t m_size;
    DiskAccess m_access;
};

} // namespace stepvmm::backends
