#pragma once
/// @file
/// RAII ownership of a file descriptor (house rule 1: "absent" is std::optional, never fd -1).

#include <filesystem>
#include <utility>

namespace stepvmm {

/// Owns exactly one open file descriptor and closes it on destruction. Never holds -1:
/// code that may have no fd uses std::optional<UniqueFd>.
class UniqueFd {
public:
    /// Takes ownership of @p fd, which must be a valid descriptor (>= 0).
    explicit UniqueFd(int fd);
    ~UniqueFd();

    UniqueFd(UniqueFd&& other) noexcept;
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    [[nodiscard]] int get() const { return m_fd; }

    /// open(2) with O_CLOEXEC added; throws SystemError naming the path on failure.
    static UniqueFd open(const std::filesystem::path& path, int flags, unsigned mode = 0);

private:
    void close_if_owned() noexcept;
    int m_fd;
};

} // namespace stepvmm
