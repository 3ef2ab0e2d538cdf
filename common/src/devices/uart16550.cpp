#include <stepvmm/devices/uart16550.hpp>

#include <utility>

namespace stepvmm::devices {

namespace {

// Register offsets (PC16550D Table II). Offsets 0 and 1 are the divisor latch while LCR.DLAB
// is set; offset 2 is IIR when read and FCR when written, whatever DLAB says.
constexpr std::uint64_t receiver_buffer_register = 0; // RBR (read), THR (write), DLL
constexpr std::uint64_t interrupt_enable_register = 1; // IER, DLM
constexpr std::uint64_t interrupt_identification_register = 2; // IIR (read), FCR (write)
constexpr std::uint64_t line_control_register = 3;
constexpr std::uint64_t modem_control_register = 4;
constexpr std::uint64_t line_status_register = 5;
constexpr std::uint64_t modem_status_register = 6;
constexpr std::uint64_t scratch_register = 7;

// IER (PC16550D §8.7). Bits 4-7 are always 0, which is what Linux's autoconfig checks first.
constexpr std::uint8_t enable_received_data = 0x01;   // ERBFI, also the character timeout
constexpr std::uint8_t enable_transmitter_empty = 0x02; // ETBEI
constexpr std::uint8_t enable_line_status = 0x04;     // ELSI
constexpr std::uint8_t enable_modem_status = 0x08;    // EDSSI
constexpr std::uint8_t interrupt_enable_writable = 0x0f;

// IIR bits 6-7 (PC16550D §8.6): both set while FCR bit 0 is. Bits 4-5 are always 0.
constexpr std::uint8_t identification_fifos_enabled = 0xc0;

// FCR (PC16550D §8.5). Bit 3 (DMA mode) only changes the RXRDY/TXRDY pins, which a VMM has
// not got; bits 4-5 are reserved.
constexpr std::uint8_t fifo_enable = 0x01;
constexpr std::uint8_t fifo_clear_receiver = 0x02;
constexpr std::uint8_t fifo_trigger_mask = 0xc0;
constexpr std::array<std::size_t, 4> trigger_levels { 1, 4, 8, 14 }; // indexed by FCR bits 7:6

// LCR (PC16550D §8.1): only DLAB changes what the model does.
constexpr std::uint8_t line_control_divisor_latch_access = 0x80;

// MCR (PC16550D §8.8). Bits 5-7 are always 0.
constexpr std::uint8_t modem_control_dtr = 0x01;
constexpr std::uint8_t modem_control_rts = 0x02;
constexpr std::uint8_t modem_control_out1 = 0x04;
constexpr std::uint8_t modem_control_out2 = 0x08;
constexpr std::uint8_t modem_control_loop = 0x10;
constexpr std::uint8_t modem_control_writable = 0x1f;

// LSR (PC16550D §8.4). PE, FE, BI and the FIFO error bit 7 never get set: see the header.
constexpr std::uint8_t line_status_data_ready = 0x01;
constexpr std::uint8_t line_status_overrun = 0x02;
constexpr std::uint8_t line_status_transmitter_holding_empty = 0x20; // THRE
constexpr std::uint8_t line_status_transmitter_empty = 0x40;         // TEMT

// MSR (PC16550D §8.9): deltas in bits 0-3, the inputs themselves in bits 4-7.
constexpr std::uint8_t modem_status_delta_cts = 0x01;
constexpr std::uint8_t modem_status_delta_dsr = 0x02;
constexpr std::uint8_t modem_status_trailing_edge_ri = 0x04;
constexpr std::uint8_t modem_status_delta_dcd = 0x08;
constexpr std::uint8_t modem_status_cts = 0x10;
constexpr std::uint8_t modem_status_dsr = 0x20;
constexpr std::uint8_t modem_status_ri = 0x40;
constexpr std::uint8_t modem_status_dcd = 0x80;


}

Uart16550::Uart16550(std::string name, std::function<void(std::uint8_t)> transmit, io::InterruptLine& interrupt)
    : m_name(std::move(name))
    , m_transmit(std::move(transmit))
    , m_interrupt(interrupt)
    // The master reset leaves the divisor latch alone (PC16550D Table III), so it holds
    // whatever it powered up with; 12 is 9600 baud from a PC's 1.8432 MHz clock, the rate PC
    // firmware commonly programs.
    , m_divisor_latch_low(12)
    // Table III: the MSR deltas reset to 0 and bits 4-7 show the inputs (m_modem_control,
    // declared earlier, is already 0 here).
    , m_modem_status_inputs(modem_status_inputs())
{
}

void Uart16550::read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    io::read_byte_registers(offset, data, register_count, [this](std::uint64_t index) {
        std::uint8_t value = read_register(index);
        update_interrupt_line(); // reading IIR, LSR, MSR or RBR can clear an interrupt
        return value;
    });
}

void Uart16550::write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    io::write_byte_registers(offset, data, register_count, [this](std::uint64_t index, std::uint8_t value) {
        write_register(index, value);
        update_interrupt_line();
    });
}

std::size_t Uart16550::receive(std::span<const std::uint8_t> bytes)
{
    if (loopback())
        return 0; // the receiver listens to the transmitter, not to the line (PC16550D §8.8)
    std::size_t stored = 0;
    for (std::uint8_t byte : bytes) {
        if (push_received(byte) == ReceiveResult::Stored)
            ++stored;
    }
    m_received_bytes += stored;
    update_interrupt_line();
    return stored;
}

std::size_t Uart16550::receive_room() const
{
    return loopback() ? 0 : receiver_capacity() - m_receiver_count;
}

std::uint8_t Uart16550::read_register(std::uint64_t offset)
{
    switch (offset) {
    case receiver_buffer_register:
        return divisor_latch_selected() ? m_divisor_latch_low : read_receiver_buffer();
    case interrupt_enable_register:
        return divisor_latch_selected() ? m_divisor_latch_high : m_interrupt_enable;
    case interrupt_identification_register:
        return read_interrupt_identification();
    case line_control_register:
        return m_line_control;
    case modem_control_register:
        return m_modem_control;
    case line_status_register:
        return read_line_status();
    case modem_status_register:
        return read_modem_status();
    case scratch_register:
        return m_scratch;
    default:
        return io::floating_bus; // read() never asks for more than the eight registers
    }
}

void Uart16550::write_register(std::uint64_t offset, std::uint8_t value)
{
    switch (offset) {
    case receiver_buffer_register:
        if (divisor_latch_selected())
            m_divisor_latch_low = value;
        else
            write_transmitter_holding(value);
        break;
    case interrupt_enable_register:
        if (divisor_latch_selected())
            m_divisor_latch_high = value;
        else
            write_interrupt_enable(value);
        break;
    case interrupt_identification_register:
        write_fifo_control(value);
        break;
    case line_control_register:
        m_line_control = value;
        break;
    case modem_control_register:
        write_modem_control(value);
        break;
    case scratch_register:
        m_scratch = value;
        break;
    default:
        // LSR and MSR: the datasheet keeps writes to LSR for factory testing (PC16550D §8.4)
        // and the model treats both status registers as read-only.
        break;
    }
}

std::uint8_t Uart16550::read_receiver_buffer()
{
    // An empty receiver has no defined byte to give; 0 is as good as any.
    if (m_receiver_count == 0)
        return 0;
    std::uint8_t byte = m_receiver[m_receiver_head];
    m_receiver_head = (m_receiver_head + 1) % fifo_size;
    --m_receiver_count;
    return byte;
}

std::uint8_t Uart16550::read_interrupt_identification()
{
    InterruptSource source = highest_pending_interrupt();
    // Reading IIR while it reports THRE is one of the two ways to acknowledge that interrupt
    // (PC16550D Table IV; the other is writing THR). Reading it while a higher-priority
    // source hides THRE leaves THRE pending.
    if (source == InterruptSource::TransmitterHoldingRegisterEmpty)
        m_transmitter_empty_pending = false;
    auto value = static_cast<std::uint8_t>(source);
    if (fifos_enabled())
        value |= identification_fifos_enabled;
    return value;
}

std::uint8_t Uart16550::read_line_status()
{
    // The transmitter is always empty: THR bytes leave the moment they are written.
    std::uint8_t value = line_status_transmitter_holding_empty | line_status_transmitter_empty;
    if (m_receiver_count > 0)
        value |= line_status_data_ready;
    if (m_overrun_error)
        value |= line_status_overrun;
    // Reading LSR clears the error bits, and with them the receiver line status interrupt
    // (PC16550D §8.4, Table IV).
    m_overrun_error = false;
    return value;
}

std::uint8_t Uart16550::read_modem_status()
{
    // Reading MSR clears the delta bits, and with them the modem status interrupt (PC16550D
    // §8.9, Table IV).
    std::uint8_t value = m_modem_status_inputs | m_modem_status_deltas;
    m_modem_status_deltas = 0;
    return value;
}

void Uart16550::write_transmitter_holding(std::uint8_t value)
{
    // Writing THR acknowledges a THRE interrupt (PC16550D Table IV). The byte then moves on at
    // once, THR is empty again, and the interrupt comes back, as it would on hardware once the
    // byte has gone out. A driver that fills the transmitter from its THRE handler thus sees
    // THRE again in IIR until it stops writing or clears IER.ETBEI.
    m_transmitter_empty_pending = false;
    if (loopback()) {
        // The transmitter shift register feeds the receiver directly (PC16550D §8.8).
        push_received(value);
    } else {
        ++m_transmitted_bytes;
        if (m_transmit)
            m_transmit(value);
    }
    m_transmitter_empty_pending = true;
}

void Uart16550::write_interrupt_enable(std::uint8_t value)
{
    std::uint8_t previous = m_interrupt_enable;
    m_interrupt_enable = value & interrupt_enable_writable;
    // Setting ETBEI while THR is empty raises the THRE interrupt, even if the guest had
    // acknowledged it by reading IIR. The datasheet does not say so, but real 16550s behave
    // this way and drivers depend on it: Linux's 8250 startup toggles IER.THRI and expects
    // IIR to report THRE twice (or it marks the port UART_BUG_THRE), and its start_tx sets
    // THRI to get the interrupt that starts transmission. As in QEMU and Bochs, only a
    // 0 -> 1 change raises it.
    bool enabled_now = (m_interrupt_enable & enable_transmitter_empty) != 0;
    bool enabled_before = (previous & enable_transmitter_empty) != 0;
    if (enabled_now && !enabled_before)
        m_transmitter_empty_pending = true;
}

void Uart16550::write_fifo_control(std::uint8_t value)
{
    bool enable = (value & fifo_enable) != 0;
    if (enable != fifos_enabled()) {
        // Switching between 16450 and FIFO mode empties the FIFOs (PC16550D §8.5, bit 0),
        // and "the first transmitter interrupt after changing FCR0 will be immediate, if it
        // is enabled" (§8.11).
        clear_receiver();
        m_transmitter_empty_pending = true;
    }
    if (!enable) {
        // The other bits are only programmed together with bit 0 set (§8.5, bit 0).
        m_fifo_control = 0;
        return;
    }
    m_fifo_control = value & (fifo_enable | fifo_trigger_mask);
    // Bit 1 empties the receiver FIFO (the shift register, which this model has not got, is
    // not affected); bit 2 empties the transmitter FIFO, which is always empty here. Both
    // clear themselves, so neither is stored.
    if ((value & fifo_clear_receiver) != 0)
        clear_receiver();
}

void Uart16550::write_modem_control(std::uint8_t value)
{
    m_modem_control = value & modem_control_writable;
    // Entering or leaving loopback, or changing the outputs while in it, changes the inputs
    // MSR shows.
    sample_modem_status_inputs();
}

bool Uart16550::divisor_latch_selected() const { return (m_line_control & line_control_divisor_latch_access) != 0; }

bool Uart16550::fifos_enabled() const { return (m_fifo_control & fifo_enable) != 0; }

bool Uart16550::loopback() const { return (m_modem_control & modem_control_loop) != 0; }

std::size_t Uart16550::receiver_capacity() const { return fifos_enabled() ? fifo_size : 1; }

std::size_t Uart16550::trigger_level() const
{
    // In 16450 mode one byte in RBR is "received data available".
    return fifos_enabled() ? trigger_levels[m_fifo_control >> 6] : 1;
}

Uart16550::ReceiveResult Uart16550::push_received(std::uint8_t byte)
{
    if (m_receiver_count < receiver_capacity()) {
        m_receiver[(m_receiver_head + m_receiver_count) % fifo_size] = byte;
        ++m_receiver_count;
        return ReceiveResult::Stored;
    }
    // An overrun (PC16550D §8.4, LSR bit 1). In FIFO mode the FIFO keeps its bytes and the new
    // one is lost; in 16450 mode the new byte is transferred into RBR, "destroying the
    // previous character".
    m_overrun_error = true;
    ++m_overruns;
    if (!fifos_enabled())
        m_receiver[m_receiver_head] = byte;
    return ReceiveResult::Overrun;
}

void Uart16550::clear_receiver()
{
    m_receiver_head = 0;
    m_receiver_count = 0;
}

std::uint8_t Uart16550::modem_status_inputs() const
{
    if (!loopback()) {
        // Nothing is attached to the modem inputs: report a modem that is always ready and
        // never rings, so guests that wait for CTS, DSR or DCD before sending carry on.
        return modem_status_cts | modem_status_dsr | modem_status_dcd;
    }
    // In loopback the four outputs drive the four inputs (PC16550D §8.8, bit 4).
    std::uint8_t inputs = 0;
    if ((m_modem_control & modem_control_rts) != 0)
        inputs |= modem_status_cts;
    if ((m_modem_control & modem_control_dtr) != 0)
        inputs |= modem_status_dsr;
    if ((m_modem_control & modem_control_out1) != 0)
        inputs |= modem_status_ri;
    if ((m_modem_control & modem_control_out2) != 0)
        inputs |= modem_status_dcd;
    return inputs;
}

void Uart16550::sample_modem_status_inputs()
{
    std::uint8_t inputs = modem_status_inputs();
    auto changed = static_cast<std::uint8_t>(inputs ^ m_modem_status_inputs);
    // PC16550D §8.9: DCTS, DDSR and DDCD record any change of their input; TERI only the
    // trailing edge of a ring, RI going from asserted to not asserted.
    if ((changed & modem_status_cts) != 0)
        m_modem_status_deltas |= modem_status_delta_cts;
    if ((changed & modem_status_dsr) != 0)
        m_modem_status_deltas |= modem_status_delta_dsr;
    if ((changed & modem_status_dcd) != 0)
        m_modem_status_deltas |= modem_status_delta_dcd;
    if ((changed & modem_status_ri) != 0 && (inputs & modem_status_ri) == 0)
        m_modem_status_deltas |= modem_status_trailing_edge_ri;
    m_modem_status_inputs = inputs;
}

Uart16550::InterruptSource Uart16550::highest_pending_interrupt() const
{
    // PC16550D Table IV, highest priority first. Every source is gated by its IER bit.
    if ((m_interrupt_enable & enable_line_status) != 0 && m_overrun_error)
        return InterruptSource::ReceiverLineStatus;
    if ((m_interrupt_enable & enable_received_data) != 0) {
        // Pending while the FIFO is at or above its trigger level (in 16450 mode: while RBR
        // holds a byte); it clears itself when reads take the level below (§8.11, A).
        if (m_receiver_count >= trigger_level())
            return InterruptSource::ReceivedDataAvailable;
        // Below the trigger level a real 16550A waits four character times before the
        // timeout interrupt (§8.11, B). Without a clock, the wait is zero.
        if (fifos_enabled() && m_receiver_count > 0)
            return InterruptSource::CharacterTimeout;
    }
    if ((m_interrupt_enable & enable_transmitter_empty) != 0 && m_transmitter_empty_pending)
        return InterruptSource::TransmitterHoldingRegisterEmpty;
    if ((m_interrupt_enable & enable_modem_status) != 0 && m_modem_status_deltas != 0)
        return InterruptSource::ModemStatus;
    return InterruptSource::None;
}

void Uart16550::update_interrupt_line()
{
    // On a PC, MCR.OUT2 enables the buffer between the UART's INTR pin and the interrupt
    // controller: without it no interrupt leaves the card.
    bool level = highest_pending_interrupt() != InterruptSource::None && (m_modem_control & modem_control_out2) != 0;
    if (level == m_interrupt_asserted)
        return;
    m_interrupt_asserted = level;
    m_interrupt.set_level(level);
}

} // namespace stepvmm::devices
