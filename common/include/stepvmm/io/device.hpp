#pragma once
/// @file
/// What every emulated device looks like to a bus: reads and writes at an offset into the
/// device's own register window (house rule 4: devices see offsets, never absolute addresses,
/// and do not know whether they sit on the port-I/O or the MMIO bus).

#include <cstdint>
#include <span>
#include <string_view>

namespace stepvmm::io {

/// A register-level device model.
class Device {
public:
    virtual ~Device() = default;

    /// A short name for statistics and traces ("uart0", "legacy-disk").
    [[nodiscard]] virtual std::string_view name() const = 0;

    /// The guest reads data.size() bytes at @p offset; the device fills @p data.
    virtual void read(std::uint64_t offset, std::span<std::uint8_t> data) = 0;

    /// The guest writes @p data at @p offset.
    virtual void write(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;
};

/// What an undriven bus reads as: the data lines float high.
inline constexpr std::uint8_t floating_bus = 0xff;

/// For devices with 8-bit registers: a wider access reaches consecutive registers, as a PC
/// splits it into byte cycles. Bytes past the last register read as a floating bus.
template<typename ReadRegister>
void read_byte_registers(std::uint64_t offset, std::span<std::uint8_t> data, std::uint64_t register_count,
    ReadRegister&& read_register)
{
    for (std::size_t index = 0; index < data.size(); ++index)
        data[index] = offset < register_count && index < register_count - offset ? read_register(offset + index) : floating_bus;
}

/// The write side of read_byte_registers(): bytes past the last register are dropped.
template<typename WriteRegister>
void write_byte_registers(std::uint64_t offset, std::span<const std::uint8_t> data, std::uint64_t register_count,
    WriteRegister&& write_register)
{
    for (std::size_t index = 0; index < data.size(); ++index) {
        if (offset < register_count && index < register_count - offset)
            write_register(offset + index, data[index]);
    }
}

/// An interrupt output: a device raises or lowers it; what it is wired to (nothing, a
/// KVM_IRQ_LINE, an irqfd) is the machine's business (chapter 04). Devices may set the same
/// level twice; implementations must accept that.
class InterruptLine {
public:
    virtual ~InterruptLine() = default;
    virtual void set_level(bool asserted) = 0;
};

/// An interrupt line wired to nothing, for machines without an interrupt controller yet.
class UnconnectedLine final : public InterruptLine {
public:
    void set_level(bool asserted) override { m_asserted = asserted; }
    [[nodiscard]] bool asserted() const { return m_asserted; }

private:
    bool m_asserted = false;
};

} // namespace stepvmm::io
