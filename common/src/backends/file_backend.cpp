#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/os/system_error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>
#include <linux/falloc.h>

namespace stepvmm::backends {

static UniqueFd open_disk(const std::filesystem::path& path, DiskAccess access)
{
    try {
        return UniqueFd::open(path, access == DiskAccess::ReadOnly ? O_RDONLY : O_RDWR);
    } catch (const SystemError& error) {
        throw SystemError(fmt::format("open disk {}", path.string()), error.error_number());
    }
}

FileBackend::FileBackend(const std::filesystem::path& path, DiskAccess access)
    : m_fd(open_disk(path, access))
    , m_size(0)
    , m_access(access)
{
    struct stat status {};
    check_syscall(::fstat(m_fd.get(), &status), fmt::format("fstat {}", path.string()));
    if (!S_ISREG(status.st_mode) && !S_ISBLK(status.st_mode))
        throw UserError(fmt::format("disk {} is neither a regular file nor a block device", path.string()));
    off_t end = check_syscall(::lseek(m_fd.get(), 0, SEEK_END), fmt::format("lseek {}", path.string()));
    m_size = static_cast<std::uint64_t>(end);
}

bool FileBackend::in_range(std::uint64_t offset, std::uint64_t length) const
{
    return offset <= m_size && length <= m_size - offset;
}

IoStatus FileBackend::read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    if (!in_range(offset, data.size()))
        return IoStatus::OutOfRange;
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t count = ::pread(m_fd.get(), data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (count < 0 && errno == EINTR)
            continue;
        if (count <= 0)
            return IoStatus::IoError; // 0 means the file shrank under us
        done += static_cast<std::size_t>(count);
    }
    return IoStatus::Ok;
}

IoStatus FileBackend::write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    if (m_access == DiskAccess::ReadOnly)
        return IoStatus::ReadOnly;
    if (!in_range(offset, data.size()))
        return IoStatus::OutOfRange;
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t count = ::pwrite(m_fd.get(), data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (count < 0 && errno == EINTR)
            continue;
        if (count <= 0)
            return IoStatus::IoError;
        done += static_cast<std::size_t>(count);
    }
    return IoStatus::Ok;
}

IoStatus FileBackend::flush()
{
    if (m_access == DiskAccess::ReadOnly)
        return IoStatus::Ok;
    return ::fdatasync(m_fd.get()) == 0 ? IoStatus::Ok : IoStatus::IoError;
}

IoStatus FileBackend::discard(std::uint64_t offset, std::uint64_t length)
{
    if (m_access == DiskAccess::ReadOnly)
        return IoStatus::ReadOnly;
    if (!in_range(offset, length))
        return IoStatus::OutOfRange;
    if (length == 0)
        return IoStatus::Ok;
    if (::fallocate(m_fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0)
        return IoStatus::Ok;
    // A file system or block device without hole punching: keeping the data is a valid discard.
    return errno == EOPNOTSUPP || errno == ENODEV ? IoStatus::Ok : IoStatus::IoError;
}

IoStatus FileBackend::write_zeroes(std::uint64_t offset, std::uint64_t length, ZeroingMode mode)
{
    if (m_access == DiskAccess::ReadOnly)
        return IoStatus::ReadOnly;
    if (!in_range(offset, length))
        return IoStatus::OutOfRange;
    if (length == 0)
        return IoStatus::Ok;
    int flags = mode == ZeroingMode::MayDeallocate ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (::fallocate(m_fd.get(), flags, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0)
        return IoStatus::Ok;
    if (errno != EOPNOTSUPP && errno != ENODEV)
        return IoStatus::IoError;
    // The slow way, in 64 KiB pieces, for file systems that support neither.
    static constexpr std::size_t piece = 64 * 1024;
    static const std::vector<std::uint8_t> zeros(piece, 0);
    for (std::uint64_t done = 0; done < length;) {
        std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(piece, length - done));
        if (IoStatus status = write(offset + done, std::span(zeros).first(count)); status != IoStatus::Ok)
            return status;
        done += count;
    }
    return IoStatus::Ok;
}

} // namespace stepvmm::backends
