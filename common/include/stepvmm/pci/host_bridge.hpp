#pragma once
/// @file
/// PCI configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2): the CONFIG_ADDRESS register
/// at port 0xCF8 selects bus, device, function and register; the four data ports at
/// 0xCFC-0xCFF read or write it. One bus (0), up to 32 devices, function 0 only.

#include <stepvmm/io/device.hpp>
#include <stepvmm/pci/config_space.hpp>

#include <array>
#include <cstdint>

namespace stepvmm::pci {

/// What sits in a slot: something with a configuration space.
class Function {
public:
    virtual ~Function() = default;
    virtual void read_config(std::uint16_t offset, std::span<std::uint8_t> data) = 0;
    virtual void write_config(std::uint16_t offset, std::span<const std::uint8_t> data) = 0;
};

/// The first port of the mechanism and the size of its window.
inline constexpr std::uint16_t config_address_port = 0xcf8;
inline constexpr std::uint64_t config_window_size = 8;

class HostBridge final : public io::Device
    , public Function {
public:
    HostBridge();

    [[nodiscard]] std::string_view name() const override { return "pci-host"; }
    /// Offsets are relative to port 0xCF8.
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    /// Puts @p function in slot @p device (1-31; slot 0 is the host bridge itself).
    void attach(std::uint8_t device, Function& function);

    // The host bridge's own configuration space (device 0).
    void read_config(std::uint16_t offset, std::span<std::uint8_t> data) override { m_config.read(offset, data); }
    void write_config(std::uint16_t offset, std::span<const std::uint8_t> data) override { m_config.write(offset, data); }

private:
    Function* selected(std::uint16_t& register_offset) const;

    ConfigSpace m_config;
    std::array<Function*, 32> m_slots {};
    std::uint32_t m_address = 0;
};

} // namespace stepvmm::pci
