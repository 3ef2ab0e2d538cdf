#include <stepvmm/devices/serial_console.hpp>
#include <stepvmm/os/event_loop.hpp>

#include <array>
#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

namespace stepvmm::devices {

SerialConsole::SerialConsole(std::string name, std::function<void(std::uint8_t)> transmit, io::InterruptLine& interrupt)
    : m_uart(std::move(name), std::move(transmit), interrupt)
{
}

void SerialConsole::read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    static constexpr std::uint64_t line_status_register = 5;
    std::lock_guard guard(m_lock);
    m_uart.read(offset, data);
    if (offset <= line_status_register && line_status_register < offset + data.size())
        m_guest_listening = true; // a driver polling LSR has finished resetting the FIFO
    feed_pending_locked(); // reading RBR made room in the FIFO
}

void SerialConsole::write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    std::lock_guard guard(m_lock);
    m_uart.write(offset, data);
    feed_pending_locked(); // e.g. enabling the FIFO or leaving loopback
}

void SerialConsole::type(std::span<const std::uint8_t> bytes)
{
    std::lock_guard guard(m_lock);
    m_pending.insert(m_pending.end(), bytes.begin(), bytes.end());
    feed_pending_locked();
}

void SerialConsole::feed_pending_locked()
{
    while (m_guest_listening && !m_pending.empty() && m_uart.can_receive()) {
        std::uint8_t byte = m_pending.front();
        m_uart.receive(std::span(&byte, 1));
        m_pending.pop_front();
    }
}

void SerialConsole::attach_input(EventLoop& loop, int input_fd)
{
    // epoll refuses what is always readable — regular files and /dev/null (EPERM,
    // epoll_ctl(2)) — so such input is read completely now and queued as typed.
    struct stat status {};
    if (::fstat(input_fd, &status) == 0 && (S_ISREG(status.st_mode) || S_ISCHR(status.st_mode)) && !::isatty(input_fd)) {
        std::array<std::uint8_t, 4096> buffer {};
        ssize_t count = 0;
        while ((count = ::read(input_fd, buffer.data(), buffer.size())) > 0)
            type(std::span(buffer.data(), static_cast<std::size_t>(count)));
        return;
    }
    loop.add(input_fd, [this, &loop, input_fd] {
        std::array<std::uint8_t, 256> buffer {};
        ssize_t count = ::read(input_fd, buffer.data(), buffer.size());
        if (count > 0) {
            type(std::span(buffer.data(), static_cast<std::size_t>(count)));
        } else if (count == 0 || (errno != EINTR && errno != EAGAIN)) {
            loop.remove(input_fd); // end of input: nothing more will come
        }
    });
}

std::uint64_t SerialConsole::transmitted_bytes() const
{
    std::lock_guard guard(m_lock);
    return m_uart.transmitted_bytes();
}

std::uint64_t SerialConsole::received_bytes() const
{
    std::lock_guard guard(m_lock);
    return m_uart.received_bytes();
}

} // namespace stepvmm::devices
