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

/// An interrupt output: a device raises or lowers it; what it is wired to (nothing, a
/// KVM_IRQ_LINE, an irqfd) is the machine's business (chapter 04).
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
