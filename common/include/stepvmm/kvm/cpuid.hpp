#pragma once
/// @file
/// CPUID: what the guest is told the CPU can do. KVM starts a vCPU with an empty table; a VMM
/// fills it from KVM_GET_SUPPORTED_CPUID (api.rst §4.46), trimmed or extended as it likes.

#include <cstdint>
#include <linux/kvm.h>
#include <optional>
#include <utility>
#include <vector>

namespace stepvmm {

class Kvm;
class Vcpu;

/// A CPUID table as KVM exchanges it.
class CpuidTable {
public:
    CpuidTable() = default;
    /// A table with exactly @p entries (for a VMM that edits what KVM offered).
    explicit CpuidTable(std::vector<kvm_cpuid_entry2> entries)
        : m_entries(std::move(entries))
    {
    }

    /// Everything this host's KVM can offer a guest.
    [[nodiscard]] static CpuidTable supported_by(const Kvm& kvm);

    /// The entry for leaf @p function, sub-leaf @p index, if present.
    [[nodiscard]] std::optional<kvm_cpuid_entry2> find(std::uint32_t function, std::uint32_t index = 0) const;

    /// CPUID.80000001H:EDX[26] — 1 GiB pages in the guest's own page tables.
    [[nodiscard]] bool offers_1g_pages() const;

    /// KVM_SET_CPUID2 on @p vcpu (before its first KVM_RUN).
    void apply_to(Vcpu& vcpu) const;

    [[nodiscard]] const std::vector<kvm_cpuid_entry2>& entries() const { return m_entries; }

private:
    std::vector<kvm_cpuid_entry2> m_entries;
};

} // namespace stepvmm
