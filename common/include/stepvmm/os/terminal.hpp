#pragma once
/// @file
/// The host terminal as a serial line: raw mode so every key reaches the guest at once and the
/// guest (not the host tty) does the echo.

#include <optional>
#include <termios.h>

namespace stepvmm {

/// Puts stdin in raw mode while alive, if stdin is a terminal. The saved settings are restored
/// by the destructor, at exit(), and on SIGINT/SIGTERM/SIGHUP/SIGQUIT and crash signals, so a
/// learner's shell is never left without echo. ISIG stays on: Ctrl-C still stops the VMM.
class RawTerminal {
public:
    RawTerminal();
    ~RawTerminal();
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

    /// Whether stdin is a terminal (and so was switched to raw mode).
    [[nodiscard]] bool active() const { return m_active; }

private:
    bool m_active = false;
};

/// Reads whatever stdin has available right now without blocking (poll with timeout 0).
/// Returns std::nullopt at end of input; an empty result means "nothing yet".
class StdinPoller {
public:
    /// Up to @p limit bytes, or std::nullopt once stdin has reached its end.
    std::optional<std::size_t> read_available(unsigned char* buffer, std::size_t limit);
    [[nodiscard]] bool at_end() const { return m_at_end; }

private:
    bool m_at_end = false;
};

} // namespace stepvmm
