#pragma once
/// @file
/// MSI-X (PCI Local Bus 3.0 §6.8.2): a table of message address/data pairs in a BAR, one per
/// interrupt vector, each maskable, with a pending-bit array for interrupts that arrive while
/// masked. The device raises a vector; where the message goes is the machine's business.

#include <stepvmm/kvm/gsi_routing.hpp>

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace stepvmm::pci {

/// Delivers MSI messages for one function's vectors.
class MsiDelivery {
public:
    virtual ~MsiDelivery() = default;
    /// Vector @p vector now sends @p message (std::nullopt: its entry is not usable).
    virtual void configure(std::uint16_t vector, std::optional<MsiMessage> message) = 0;
    /// Sends vector @p vector's message now; may be called from any thread.
    virtual void signal(std::uint16_t vector) = 0;
};

/// Bit positions of the MSI-X Message Control register (§6.8.2.3).
namespace msix {
inline constexpr std::uint8_t capability_id = 0x11;
inline constexpr std::uint16_t control_function_mask = 1 << 14;
inline constexpr std::uint16_t control_enable = 1 << 15;
inline constexpr std::uint64_t entry_size = 16;
inline constexpr std::uint32_t vector_control_mask = 1;
} // namespace msix

class MsixTable {
public:
    MsixTable(std::uint16_t vector_count, MsiDelivery& delivery);

    [[nodiscard]] std::uint16_t vector_count() const { return static_cast<std::uint16_t>(m_entries.size()); }
    [[nodiscard]] std::uint64_t table_size() const { return msix::entry_size * m_entries.size(); }
    [[nodiscard]] std::uint64_t pending_array_size() const { return 8 * ((m_entries.size() + 63) / 64); }

    /// The Message Control bits the driver controls (enable, function mask).
    void write_control(std::uint16_t control);
    [[nodiscard]] bool enabled() const;

    /// Accesses to the table and the pending bit array, at offsets into each.
    void read_table(std::uint64_t offset, std::span<std::uint8_t> data) const;
    void write_table(std::uint64_t offset, std::span<const std::uint8_t> data);
    void read_pending(std::uint64_t offset, std::span<std::uint8_t> data) const;

    /// The device interrupts on @p vector: sent now, or remembered as pending while masked.
    void trigger(std::uint16_t vector);
    [[nodiscard]] std::uint64_t messages_sent() const;

private:
    struct Entry {
        std::uint64_t address = 0;
        std::uint32_t data = 0;
        std::uint32_t vector_control = msix::vector_control_mask; // masked after reset (§6.8.2.9)
        bool pending = false;
    };
    [[nodiscard]] bool masked_locked(const Entry& entry) const;
    void deliver_unmasked_pending_locked();

    mutable std::mutex m_lock; ///< the vCPU programs the table while the device thread triggers
    std::vector<Entry> m_entries;
    MsiDelivery& m_delivery;
    bool m_enabled = false;
    bool m_function_masked = false;
    std::uint64_t m_sent = 0;
};

} // namespace stepvmm::pci
