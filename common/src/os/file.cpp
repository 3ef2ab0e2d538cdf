#include <stepvmm/os/file.hpp>
#include <stepvmm/os/system_error.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace stepvmm {

std::vector<std::uint8_t> read_whole_file(const std::filesystem::path& path, std::uint64_t size_limit)
{
    UniqueFd file = UniqueFd::open(path, O_RDONLY);
    struct stat status {};
    check_syscall(::fstat(file.get(), &status), fmt::format("fstat {}", path.string()));
    if (!S_ISREG(status.st_mode))
        throw UserError(fmt::format("{} is not a regular file", path.string()));
    auto size = static_cast<std::uint64_t>(status.st_size);
    if (size > size_limit)
        throw UserError(fmt::format("{} is {} bytes, more than the {} this loader accepts", path.string(), size, size_limit));
    std::vector<std::uint8_t> bytes(size);
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t count = ::read(file.get(), bytes.data() + done, bytes.size() - done);
        if (count < 0 && errno == EINTR)
            continue;
        check_syscall(count, fmt::format("read {}", path.string()));
        if (count == 0)
            throw UserError(fmt::format("{} shrank while being read", path.string()));
        done += static_cast<std::size_t>(count);
    }
    return bytes;
}

} // namespace stepvmm
