#include <stepvmm/os/terminal.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <poll.h>
#include <unistd.h>

namespace stepvmm {

// One saved state for the process: restoring must work from a signal handler, so it lives in
// plain statics and restore_terminal() only calls async-signal-safe tcsetattr().
static termios saved_settings;
static std::atomic<bool> terminal_is_raw { false };

static void restore_terminal()
{
    if (terminal_is_raw.exchange(false))
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_settings);
}

static void restore_and_reraise(int signal_number)
{
    restore_terminal();
    // Default action now: terminate (or dump core) as the signal intends.
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
}

RawTerminal::RawTerminal()
{
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_settings) != 0)
        return;
    termios raw = saved_settings;
    // cfmakeraw() minus ISIG: bytes arrive one at a time, unechoed, untranslated.
    raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | IEXTEN);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0)
        return;
    terminal_is_raw = true;
    m_active = true;
    static bool handlers_installed = false;
    if (!handlers_installed) {
        handlers_installed = true;
        std::atexit(restore_terminal);
        for (int signal_number : { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL }) {
            struct sigaction action {};
            action.sa_handler = restore_and_reraise;
            action.sa_flags = SA_RESETHAND;
            ::sigaction(signal_number, &action, nullptr);
        }
    }
}

RawTerminal::~RawTerminal() { restore_terminal(); }

std::optional<std::size_t> StdinPoller::read_available(unsigned char* buffer, std::size_t limit)
{
    if (m_at_end)
        return std::nullopt;
    pollfd input { STDIN_FILENO, POLLIN, 0 };
    if (limit == 0 || ::poll(&input, 1, 0) <= 0)
        return 0;
    ssize_t count = ::read(STDIN_FILENO, buffer, limit);
    if (count < 0)
        return errno == EAGAIN || errno == EINTR ? std::optional<std::size_t>(0) : std::nullopt;
    if (count == 0) {
        m_at_end = true;
        return std::nullopt;
    }
    return static_cast<std::size_t>(count);
}

} // namespace stepvmm
