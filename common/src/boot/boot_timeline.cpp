#include <stepvmm/boot/boot_timeline.hpp>

#include <fmt/format.h>

namespace stepvmm::boot {

// Longer lines are cut: the markers sit near the start of a line, and a guest that never
// sends a newline must not grow the buffer without bound.
static constexpr std::size_t line_limit = 4096;

BootTimeline::BootTimeline(Clock::time_point start, std::vector<std::string> markers)
    : m_start(start)
    , m_markers(std::move(markers))
    , m_seen(m_markers.size())
{
}

void BootTimeline::observe(std::uint8_t byte, Clock::time_point when)
{
    ++m_bytes;
    if (!m_first_byte)
        m_first_byte = when - m_start;
    if (byte == '\n') {
        if (!m_line.empty())
            m_last_line = m_line;
        m_line.clear();
        return;
    }
    if (byte == '\r' || m_line.size() >= line_limit)
        return;
    m_line.push_back(static_cast<char>(byte));
    for (std::size_t i = 0; i < m_markers.size(); ++i) {
        const std::string& marker = m_markers[i];
        // Only a match that ends at this byte is new; earlier ones were recorded already.
        if (!m_seen[i] && m_line.size() >= marker.size() && m_line.compare(m_line.size() - marker.size(), marker.size(), marker) == 0)
            m_seen[i] = when - m_start;
    }
}

std::optional<BootTimeline::Clock::duration> BootTimeline::marker(std::string_view marker) const
{
    for (std::size_t i = 0; i < m_markers.size(); ++i) {
        if (m_markers[i] == marker)
            return m_seen[i];
    }
    return std::nullopt;
}

std::string BootTimeline::format() const
{
    auto seconds = [](const std::optional<Clock::duration>& duration) {
        return duration ? fmt::format("{:8.3f} s", std::chrono::duration<double>(*duration).count()) : std::string("not reached");
    };
    std::string text = fmt::format("  {:<32} {}\n", "first console byte:", seconds(m_first_byte));
    for (std::size_t i = 0; i < m_markers.size(); ++i)
        text += fmt::format("  {:<32} {}\n", fmt::format("\"{}\":", m_markers[i]), seconds(m_seen[i]));
    return text;
}

} // namespace stepvmm::boot
