#include <stepvmm/kvm/exit_counter.hpp>

#include <fmt/format.h>

namespace stepvmm {

std::uint64_t ExitCounter::of(std::string_view name) const
{
    auto found = m_counts.find(name);
    return found == m_counts.end() ? 0 : found->second;
}

std::string ExitCounter::summary() const
{
    std::string text;
    for (const auto& [name, count] : m_counts)
        text += fmt::format("{}={} ", name, count);
    text += fmt::format("(total {})", m_total);
    return text;
}

} // namespace stepvmm
