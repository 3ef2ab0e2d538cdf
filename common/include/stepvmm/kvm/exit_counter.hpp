#pragma once
/// @file
/// Counting VM exits by reason: the first number every chapter prints.

#include <stepvmm/kvm/exit.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace stepvmm {

/// Exit counts keyed by exit name ("KVM_EXIT_IO"), in name order for stable output.
class ExitCounter {
public:
    void count(const VcpuExit& exit) { ++m_counts[exit_name(exit)]; ++m_total; }

    [[nodiscard]] std::uint64_t total() const { return m_total; }
    [[nodiscard]] std::uint64_t of(std::string_view name) const;
    [[nodiscard]] const std::map<std::string, std::uint64_t, std::less<>>& counts() const { return m_counts; }

    /// "KVM_EXIT_HLT=1 KVM_EXIT_IO=22 (total 23)".
    [[nodiscard]] std::string summary() const;

private:
    std::map<std::string, std::uint64_t, std::less<>> m_counts;
    std::uint64_t m_total = 0;
};

} // namespace stepvmm
