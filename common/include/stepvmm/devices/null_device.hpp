#pragma once
/// @file
/// A device that accepts every write and reads as zero — like the PC's POST-code port 0x80,
/// which firmware writes progress codes to and nobody reads. It makes the cost of a bare
/// exit measurable: no emulation work hides behind it.

#include <stepvmm/io/device.hpp>

#include <algorithm>
#include <string>

namespace stepvmm::devices {

class NullDevice final : public io::Device {
public:
    explicit NullDevice(std::string name)
        : m_name(std::move(name))
    {
    }

    [[nodiscard]] std::string_view name() const override { return m_name; }
    void read(std::uint64_t, std::span<std::uint8_t> data) override { std::fill(data.begin(), data.end(), std::uint8_t { 0 }); }
    void write(std::uint64_t, std::span<const std::uint8_t>) override { }

private:
    std::string m_name;
};

} // namespace stepvmm::devices
