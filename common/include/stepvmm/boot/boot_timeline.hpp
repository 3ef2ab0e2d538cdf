#pragma once
/// @file
/// Boot timing from the console: when the first byte arrived, and when each marker line
/// ("Linux version", the initramfs' "/init reached") appeared, measured from VMM start.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stepvmm::boot {

/// Watches console output byte by byte (on whichever thread transmits).
class BootTimeline {
public:
    using Clock = std::chrono::steady_clock;

    /// Times are measured from @p start; @p markers are substrings looked for in each line.
    BootTimeline(Clock::time_point start, std::vector<std::string> markers);

    /// One console byte, seen at @p when.
    void observe(std::uint8_t byte, Clock::time_point when = Clock::now());

    /// Time from start to the first byte, if any arrived.
    [[nodiscard]] std::optional<Clock::duration> first_byte() const { return m_first_byte; }
    /// Time from start to the end of the first occurrence of @p marker, if seen.
    [[nodiscard]] std::optional<Clock::duration> marker(std::string_view marker) const;
    /// Bytes observed.
    [[nodiscard]] std::uint64_t bytes() const { return m_bytes; }
    /// The last complete, non-empty line (carriage returns removed).
    [[nodiscard]] const std::string& last_line() const { return m_last_line; }

    /// Lines such as "  first console byte:   0.412 s" for the report, "not reached" for
    /// markers that never appeared.
    [[nodiscard]] std::string format() const;

private:
    Clock::time_point m_start;
    std::vector<std::string> m_markers;
    std::vector<std::optional<Clock::duration>> m_seen;
    std::optional<Clock::duration> m_first_byte;
    std::uint64_t m_bytes = 0;
    std::string m_line;
    std::string m_last_line;
};

} // namespace stepvmm::boot
