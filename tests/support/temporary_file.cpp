#include "temporary_file.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <unistd.h>

namespace stepvmm::test {

TemporaryFile::TemporaryFile(std::string_view contents)
{
    std::string pattern = "/tmp/stepvmm-test-XXXXXX";
    int fd = ::mkstemp(pattern.data());
    if (fd < 0)
        throw std::runtime_error("mkstemp failed");
    ::close(fd);
    m_path = pattern;
    std::ofstream(m_path, std::ios::binary).write(contents.data(), static_cast<std::streamsize>(contents.size()));
}

TemporaryFile::TemporaryFile(std::span<const std::uint8_t> contents)
    : TemporaryFile(std::string_view(reinterpret_cast<const char*>(contents.data()), contents.size()))
{
}

TemporaryFile::~TemporaryFile() { ::unlink(m_path.c_str()); }

std::vector<std::uint8_t> TemporaryFile::contents() const
{
    std::ifstream file(m_path, std::ios::binary);
    return { std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>() };
}

}
