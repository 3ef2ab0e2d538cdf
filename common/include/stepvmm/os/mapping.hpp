#pragma once
/// @file
/// RAII ownership of an mmap(2) region.

#include <cstddef>
#include <cstdint>
#include <span>
#include <sys/types.h>

namespace stepvmm {

/// Owns one mapping and unmaps it on destruction.
class Mapping {
public:
    /// mmap(2) that throws SystemError("mmap <what>") on failure.
    static Mapping map(std::size_t size, int protection, int flags, int fd, off_t offset,
        const char* what);

    /// Anonymous mapping whose start is aligned to @p alignment (a power of two): maps with
    /// slack and unmaps the unaligned head and tail.
    static Mapping map_aligned(std::size_t size, std::size_t alignment, int protection, int flags,
        const char* what);

    /// Makes the last @p bytes inaccessible (PROT_NONE) and hides them: size() shrinks by
    /// @p bytes, the destructor still unmaps them. A guard against overruns and VMA merging.
    void turn_tail_into_guard(std::size_t bytes);

    ~Mapping();
    Mapping(Mapping&& other) noexcept;
    Mapping& operator=(Mapping&& other) noexcept;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    [[nodiscard]] std::uint8_t* data() const { return m_data; }
    [[nodiscard]] std::size_t size() const { return m_size; }
    [[nodiscard]] std::span<std::uint8_t> bytes() const { return { m_data, m_size }; }

private:
    Mapping(std::uint8_t* data, std::size_t size);
    void unmap() noexcept;

    std::uint8_t* m_data;
    std::size_t m_size;
    std::size_t m_guard_size = 0; ///< inaccessible bytes after m_size, unmapped with the rest
};

} // namespace stepvmm
