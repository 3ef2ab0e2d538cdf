#pragma once
/// @file
/// An address-decoding bus: the piece of a VMM that turns "the guest touched port 0x3fd" into
/// "uart0, offset 5". One class serves both the port-I/O and the MMIO address space.

#include <stepvmm/io/device.hpp>
#include <stepvmm/kvm/exit.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace stepvmm::io {

/// Counts of guest accesses, per device and unclaimed.
struct AccessCounts {
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
};

/// Devices registered on non-overlapping address ranges.
class Bus {
public:
    explicit Bus(std::string name);

    /// Registers @p device for [base, base + size). The bus does not own the device; it must
    /// outlive the bus. Throws std::invalid_argument for an empty, wrapping or overlapping range.
    void add(std::uint64_t base, std::uint64_t size, Device& device);

    /// Moves @p device (added before) to @p base, or stops decoding it when @p base is
    /// std::nullopt — what happens when a guest reprograms a PCI BAR or turns memory decoding
    /// off. Its access counts are kept. Throws std::invalid_argument on overlap.
    void relocate(Device& device, std::optional<std::uint64_t> base);

    /// Dispatches one guest access. An access that runs past the end of a device's range is
    /// split: each part goes to whatever decodes it. Bytes nobody decodes read as 0xff (an
    /// undriven bus floats high) and writes to them are dropped; both are counted.
    void access(AccessDirection direction, std::uint64_t address, std::span<std::uint8_t> data);

    /// Dispatches a KVM_EXIT_IO. A string instruction (REP INSW, REP OUTSB) arrives as one
    /// exit with count > 1 and size * count bytes of data; each element is its own access
    /// to the same port, in order (api.rst §5, kvm_run.io).
    void dispatch(const IoExit& exit);

    /// Access counts for the device called @p name (zero if unknown).
    [[nodiscard]] AccessCounts counts_for(std::string_view name) const;
    /// Accesses that no device decoded.
    [[nodiscard]] AccessCounts unclaimed() const { return m_unclaimed; }
    /// Per-device counts, by device name.
    [[nodiscard]] std::map<std::string, AccessCounts, std::less<>> device_counts() const;

    [[nodiscard]] const std::string& name() const { return m_name; }

private:
    struct Range {
        std::uint64_t base;
        std::uint64_t size;
        Device* device;
        AccessCounts counts;
        bool decoded = true;
    };
    Range* find(std::uint64_t address);

    std::string m_name;
    std::vector<Range> m_ranges; // sorted by base
    AccessCounts m_unclaimed;
};

} // namespace stepvmm::io
