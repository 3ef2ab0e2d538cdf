#include <stepvmm/os/system_error.hpp>
#include <stepvmm/os/unique_fd.hpp>

#include <cassert>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace stepvmm {

// A moved-from UniqueFd keeps this marker; it is never observable through get() on a live object.
static constexpr int moved_from_marker = -1;

UniqueFd::UniqueFd(int fd)
    : m_fd(fd)
{
    assert(fd >= 0);
}

UniqueFd::~UniqueFd() { close_if_owned(); }

UniqueFd::UniqueFd(UniqueFd&& other) noexcept
    : m_fd(std::exchange(other.m_fd, moved_from_marker))
{
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept
{
    if (this != &other) {
        close_if_owned();
        m_fd = std::exchange(other.m_fd, moved_from_marker);
    }
    return *this;
}

void UniqueFd::close_if_owned() noexcept
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = moved_from_marker;
}

UniqueFd UniqueFd::open(const std::filesystem::path& path, int flags, unsigned mode)
{
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0)
        throw SystemError(fmt::format("open {}", path.string()), errno);
    return UniqueFd(fd);
}

} // namespace stepvmm
