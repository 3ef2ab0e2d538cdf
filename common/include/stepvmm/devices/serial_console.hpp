#pragma once
/// @file
/// The host side of a serial port: a 16550A whose output goes to stdout and whose input comes
/// from a host fd read on a device thread. The UART is touched by two threads — the vCPU
/// thread through register exits, the device thread when keys arrive — so every access goes
/// through one lock here, and bytes the UART has no room for wait in a host-side queue until
/// the guest reads some. Type-ahead also waits until the guest's driver is up — until it
/// first reads the line status register — because setting the port up resets the receive
/// FIFO and would silently drop whatever arrived before.

#include <stepvmm/devices/uart16550.hpp>
#include <stepvmm/io/device.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

namespace stepvmm {
class EventLoop;
}

namespace stepvmm::devices {

class SerialConsole final : public io::Device {
public:
    SerialConsole(std::string name, std::function<void(std::uint8_t)> transmit, io::InterruptLine& interrupt);

    [[nodiscard]] std::string_view name() const override { return m_uart.name(); }
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    /// Reads @p input_fd whenever @p loop finds it readable (on the loop's thread) and hands
    /// the bytes to the guest. At end of input the fd is removed from the loop. A regular
    /// file or /dev/null (which epoll cannot watch) is read completely at once.
    void attach_input(EventLoop& loop, int input_fd);

    /// Bytes from the host, as if typed (thread-safe).
    void type(std::span<const std::uint8_t> bytes);

    [[nodiscard]] std::uint64_t transmitted_bytes() const;
    [[nodiscard]] std::uint64_t received_bytes() const;

private:
    void feed_pending_locked();

    mutable std::mutex m_lock;
    Uart16550 m_uart;
    bool m_guest_listening = false; ///< the guest has read LSR at least once
    std::deque<std::uint8_t> m_pending; ///< typed, not yet taken by the UART's FIFO
};

} // namespace stepvmm::devices
