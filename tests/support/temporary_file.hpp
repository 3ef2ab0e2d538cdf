#pragma once
// A file in /tmp with given contents, removed when the test ends.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stepvmm::test {

class TemporaryFile {
public:
    explicit TemporaryFile(std::span<const std::uint8_t> contents);
    explicit TemporaryFile(std::string_view contents);
    ~TemporaryFile();
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    [[nodiscard]] const std::string& path() const { return m_path; }
    // The file as it is on the host now.
    [[nodiscard]] std::vector<std::uint8_t> contents() const;

private:
    std::string m_path;
};

}
