#pragma once
/// @file
/// A 16550A UART, the serial port of every PC (COM1 decodes 0x3f8..0x3ff), modelled at the
/// register level after the National Semiconductor / TI PC16550D datasheet. Chapter 03 uses it
/// as the guest's console; chapter 05 hands it to Linux's 8250 driver, which probes it and
/// then drives it with interrupts, so the model follows the datasheet wherever that driver
/// can tell the difference.

#include <stepvmm/io/device.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace stepvmm::devices {

/// The eight registers of one 16550A (PC16550D Table II), at offsets 0..7 of its window.
///
/// What is modelled: the divisor latch (LCR.DLAB), the 16-byte receiver FIFO with its trigger
/// levels (or the single receiver buffer register in 16450 mode, FCR bit 0 clear), overrun
/// errors, the four interrupt sources with the datasheet's priorities (PC16550D Table IV),
/// loopback mode, the modem status register with its delta bits, and the scratch register.
///
/// What is not: time. Nothing here has a baud-rate clock, so
/// - transmission is instantaneous: a byte written to THR is handed to the transmit callback
///   at once, so THRE and TEMT always read 1 and the transmitter FIFO is never used;
/// - the character timeout interrupt (which a real 16550A raises after four character times
///   without FIFO activity) is reported as soon as the receiver FIFO holds fewer bytes than
///   the trigger level: the guest learns of every byte without waiting for a timer this
///   model does not have;
/// - parity, framing and break never happen (a host byte arrives intact), so LSR bits 2-4 and
///   7 read 0 and the divisor and LCR's framing bits are stored but change nothing.
/// The modem inputs of an unconnected port read as a modem that is always ready: CTS, DSR and
/// DCD asserted, RI not.
///
/// The interrupt output follows the PC's wiring, not the chip's INTR pin alone: a PC's serial
/// port only drives its IRQ while the guest sets MCR.OUT2, so the line is
/// "an interrupt is pending" AND MCR.OUT2. Linux sets OUT2 when it opens the port. (On a
/// real PC, loopback mode also forces the OUT2 pin inactive; like QEMU, this model keeps
/// following the register bit.)
///
/// The guest is hostile (house rule 3): every access of any width at any offset is accepted.
/// Wider accesses reach consecutive registers a byte at a time; offsets past the eight
/// registers read 0xff and ignore writes.
///
/// Not thread-safe: a VMM that calls receive() from another thread than the one serving the
/// guest's accesses must serialise the two.
class Uart16550 final : public io::Device {
public:
    /// Bytes the receiver FIFO holds in FIFO mode (PC16550D, Features).
    static constexpr std::size_t fifo_size = 16;
    /// The register window: offsets 0..7.
    static constexpr std::uint64_t register_count = 8;

    /// Sends every byte the guest writes to THR (outside loopback mode) to @p transmit, which
    /// may be empty to discard them, and drives @p interrupt, which must outlive the device.
    Uart16550(std::string name, std::function<void(std::uint8_t)> transmit, io::InterruptLine& interrupt);

    [[nodiscard]] std::string_view name() const override { return m_name; }
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    /// Bytes arriving from the host side of the serial line, in order. Returns how many were
    /// stored for the guest; each further byte finds the receiver full and is an overrun: it
    /// sets LSR.OE, is counted by overruns(), and is lost. In FIFO mode the lost byte is the
    /// new one (PC16550D §8.4, LSR bit 1: the character in the shift register is overwritten
    /// and not transferred to the full FIFO); in 16450 mode the new byte replaces the unread
    /// one in RBR, which is lost instead. In loopback mode the receiver is disconnected from
    /// the line (PC16550D §8.8, MCR bit 4) and every byte is dropped without an overrun.
    /// A caller that must not lose input passes at most receive_room() bytes.
    std::size_t receive(std::span<const std::uint8_t> bytes);
    /// How many bytes receive() would store now: the free room in the receiver FIFO (or
    /// buffer register), and 0 in loopback mode.
    [[nodiscard]] std::size_t receive_room() const;
    /// Whether receive() would store at least one byte now.
    [[nodiscard]] bool can_receive() const { return receive_room() > 0; }

    /// Bytes handed to the transmit callback.
    [[nodiscard]] std::uint64_t transmitted_bytes() const { return m_transmitted_bytes; }
    /// Bytes receive() stored for the guest (the sum of its return values).
    [[nodiscard]] std::uint64_t received_bytes() const { return m_received_bytes; }
    /// Bytes lost to overruns, from receive() or from THR writes in loopback mode.
    [[nodiscard]] std::uint64_t overruns() const { return m_overruns; }

private:
    /// The interrupt sources, valued as IIR bits 0-3 identify them (PC16550D Table IV), from
    /// the highest priority to none.
    enum class InterruptSource : std::uint8_t {
        ReceiverLineStatus = 0x06,
        ReceivedDataAvailable = 0x04,
        CharacterTimeout = 0x0c,
        TransmitterHoldingRegisterEmpty = 0x02,
        ModemStatus = 0x00,
        None = 0x01,
    };

    /// What became of a byte that reached the receiver.
    enum class ReceiveResult {
        Stored,
        Overrun,
    };

    [[nodiscard]] std::uint8_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint8_t value);

    [[nodiscard]] std::uint8_t read_receiver_buffer();
    [[nodiscard]] std::uint8_t read_interrupt_identification();
    [[nodiscard]] std::uint8_t read_line_status();
    [[nodiscard]] std::uint8_t read_modem_status();
    void write_transmitter_holding(std::uint8_t value);
    void write_interrupt_enable(std::uint8_t value);
    void write_fifo_control(std::uint8_t value);
    void write_modem_control(std::uint8_t value);

    [[nodiscard]] bool divisor_latch_selected() const;
    [[nodiscard]] bool fifos_enabled() const;
    [[nodiscard]] bool loopback() const;
    [[nodiscard]] std::size_t receiver_capacity() const;
    [[nodiscard]] std::size_t trigger_level() const;
    ReceiveResult push_received(std::uint8_t byte);
    void clear_receiver();
    /// The modem status inputs (MSR bits 4-7) as the port sees them now.
    [[nodiscard]] std::uint8_t modem_status_inputs() const;
    void sample_modem_status_inputs();

    [[nodiscard]] InterruptSource highest_pending_interrupt() const;
    void update_interrupt_line();

    std::string m_name;
    std::function<void(std::uint8_t)> m_transmit;
    io::InterruptLine& m_interrupt;

    // The registers (PC16550D Table II); reset values from Table III.
    std::uint8_t m_divisor_latch_low;
    std::uint8_t m_divisor_latch_high = 0;
    std::uint8_t m_interrupt_enable = 0;
    std::uint8_t m_fifo_control = 0; ///< as last programmed: FIFO enable and trigger level
    std::uint8_t m_line_control = 0;
    std::uint8_t m_modem_control = 0;
    std::uint8_t m_modem_status_inputs;    ///< MSR bits 4-7 as last sampled
    std::uint8_t m_modem_status_deltas = 0; ///< MSR bits 0-3, cleared by reading MSR
    std::uint8_t m_scratch = 0;
    bool m_overrun_error = false; ///< LSR.OE, cleared by reading LSR

    // The receiver FIFO as a ring; in 16450 mode only one entry is used (RBR).
    std::array<std::uint8_t, fifo_size> m_receiver {};
    std::size_t m_receiver_head = 0;
    std::size_t m_receiver_count = 0;

    /// The THRE interrupt's own latch: THR is always empty here, so what matters is whether
    /// the guest has already acknowledged that by reading IIR.
    bool m_transmitter_empty_pending = false;
    bool m_interrupt_asserted = false; ///< the level last given to m_interrupt

    std::uint64_t m_transmitted_bytes = 0;
    std::uint64_t m_received_bytes = 0;
    std::uint64_t m_overruns = 0;
};

} // namespace stepvmm::devices
