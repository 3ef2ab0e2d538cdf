#include <stepvmm/os/mapping.hpp>
#include <stepvmm/os/system_error.hpp>

#include <fmt/format.h>
#include <sys/mman.h>
#include <utility>

namespace stepvmm {

Mapping Mapping::map(std::size_t size, int protection, int flags, int fd, off_t offset,
    const char* what)
{
    void* address = ::mmap(nullptr, size, protection, flags, fd, offset);
    if (address == MAP_FAILED)
        throw SystemError(fmt::format("mmap {} ({} bytes)", what, size), errno);
    return Mapping(static_cast<std::uint8_t*>(address), size);
}

Mapping Mapping::map_aligned(std::size_t size, std::size_t alignment, int protection, int flags,
    const char* what)
{
    Mapping slack = map(size + alignment, protection, flags, -1, 0, what);
    auto start = reinterpret_cast<std::uintptr_t>(slack.m_data);
    auto aligned_start = (start + alignment - 1) & ~(static_cast<std::uintptr_t>(alignment) - 1);
    std::size_t head = aligned_start - start;
    std::size_t tail = alignment - head;
    auto* aligned = slack.m_data + head;
    // Give the slack back to the kernel; the aligned window is what this Mapping owns.
    if (head != 0)
        ::munmap(slack.m_data, head);
    if (tail != 0)
        ::munmap(aligned + size, tail);
    slack.m_data = nullptr;
    slack.m_size = 0;
    return Mapping(aligned, size);
}

Mapping::Mapping(std::uint8_t* data, std::size_t size)
    : m_data(data)
    , m_size(size)
{
}

void Mapping::turn_tail_into_guard(std::size_t bytes)
{
    if (bytes > m_size)
        throw SystemError("mprotect guard", EINVAL);
    m_size -= bytes;
    m_guard_size += bytes;
    check_syscall(::mprotect(m_data + m_size, bytes, PROT_NONE), "mprotect guard");
}

Mapping::~Mapping() { unmap(); }

Mapping::Mapping(Mapping&& other) noexcept
    : m_data(std::exchange(other.m_data, nullptr))
    , m_size(std::exchange(other.m_size, 0))
    , m_guard_size(std::exchange(other.m_guard_size, 0))
{
}

Mapping& Mapping::operator=(Mapping&& other) noexcept
{
    if (this != &other) {
        unmap();
        m_data = std::exchange(other.m_data, nullptr);
        m_size = std::exchange(other.m_size, 0);
        m_guard_size = std::exchange(other.m_guard_size, 0);
    }
    return *this;
}

void Mapping::unmap() noexcept
{
    if (m_data)
        ::munmap(m_data, m_size + m_guard_size);
    m_data = nullptr;
    m_size = 0;
    m_guard_size = 0;
}

} // namespace stepvmm
