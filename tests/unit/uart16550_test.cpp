// The 16550A UART, driven register by register the way a guest driver drives it: Linux's 8250
// probe, a polled console, an interrupt-driven receiver and transmitter. The register numbers
// and bits below are typed in from the PC16550D datasheet (Table II and §8) rather than taken
// from the device, so a wrong constant in the device cannot agree with itself here.

#include <stepvmm/devices/uart16550.hpp>

#include <catch2/catch.hpp>
#include <recording_line.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace stepvmm;
using devices::Uart16550;

using stepvmm::test::RecordingLine;

namespace {

// Registers, as offsets from the port's base (COM1: 0x3f8).
constexpr std::uint64_t rbr = 0, thr = 0, dll = 0, ier = 1, dlm = 1, iir = 2, fcr = 2, lcr = 3, mcr = 4, lsr = 5, msr = 6, scr = 7;

constexpr std::uint8_t ier_rx = 0x01, ier_thre = 0x02, ier_line_status = 0x04, ier_modem_status = 0x08;
constexpr std::uint8_t iir_none = 0x01, iir_line_status = 0x06, iir_rx = 0x04, iir_timeout = 0x0c, iir_thre = 0x02, iir_modem_status = 0x00;
constexpr std::uint8_t iir_fifos = 0xc0;
constexpr std::uint8_t fcr_enable = 0x01, fcr_clear_rx = 0x02, fcr_clear_tx = 0x04;
constexpr std::uint8_t lcr_dlab = 0x80, lcr_8n1 = 0x03;
constexpr std::uint8_t mcr_dtr = 0x01, mcr_rts = 0x02, mcr_out1 = 0x04, mcr_out2 = 0x08, mcr_loop = 0x10;
constexpr std::uint8_t lsr_dr = 0x01, lsr_oe = 0x02, lsr_thre = 0x20, lsr_temt = 0x40;
constexpr std::uint8_t msr_dcts = 0x01, msr_ddsr = 0x02, msr_teri = 0x04, msr_ddcd = 0x08;
constexpr std::uint8_t msr_cts = 0x10, msr_dsr = 0x20, msr_ri = 0x40, msr_dcd = 0x80;

// A UART wired to a recording line and a transmit collector, with inb/outb like a guest's.
struct Port {
    RecordingLine line;
    std::vector<std::uint8_t> transmitted;
    Uart16550 uart { "uart0", [this](std::uint8_t byte) { transmitted.push_back(byte); }, line };

    std::uint8_t inb(std::uint64_t offset)
    {
        std::uint8_t value = 0x5a; // something the device must overwrite
        uart.read(offset, std::span(&value, 1));
        return value;
    }
    void outb(std::uint64_t offset, std::uint8_t value) { uart.write(offset, std::span(&value, 1)); }

    std::size_t receive(std::vector<std::uint8_t> bytes) { return uart.receive(bytes); }
    std::size_t receive_count(std::size_t count, std::uint8_t first = 0x30)
    {
        std::vector<std::uint8_t> bytes;
        for (std::size_t index = 0; index < count; ++index)
            bytes.push_back(static_cast<std::uint8_t>(first + index));
        return uart.receive(bytes);
    }
};

}

TEST_CASE("Uart16550 comes out of reset as PC16550D Table III says", "[uart16550]")
{
    Port port;
    CHECK(port.inb(ier) == 0x00);
    CHECK(port.inb(iir) == iir_none); // no interrupt, FIFOs off
    CHECK(port.inb(lcr) == 0x00);
    CHECK(port.inb(mcr) == 0x00);
    CHECK(port.inb(lsr) == (lsr_thre | lsr_temt));
    CHECK(port.inb(msr) == (msr_cts | msr_dsr | msr_dcd)); // an always-ready modem, no deltas
    CHECK(port.line.levels().empty());
    CHECK(port.uart.name() == "uart0");
    CHECK(port.uart.can_receive());
    CHECK(port.uart.receive_room() == 1); // 16450 mode: one receiver buffer register
}

TEST_CASE("Uart16550 sends THR bytes to the transmit callback and keeps THRE and TEMT set", "[uart16550]")
{
    Port port;
    for (char character : std::string("hi\n"))
        port.outb(thr, static_cast<std::uint8_t>(character));
    CHECK(port.transmitted == std::vector<std::uint8_t> { 'h', 'i', '\n' });
    CHECK(port.uart.transmitted_bytes() == 3);
    CHECK((port.inb(lsr) & (lsr_thre | lsr_temt)) == (lsr_thre | lsr_temt));
    CHECK(port.uart.received_bytes() == 0);
}

TEST_CASE("Uart16550 LSR: DR follows the receiver, OE reports an overrun until LSR is read", "[uart16550]")
{
    Port port;
    CHECK((port.inb(lsr) & lsr_dr) == 0);
    REQUIRE(port.receive({ 'x' }) == 1);
    CHECK(port.inb(lsr) == (lsr_dr | lsr_thre | lsr_temt));
    CHECK(port.inb(rbr) == 'x');
    CHECK(port.inb(lsr) == (lsr_thre | lsr_temt));
    CHECK(port.uart.received_bytes() == 1);

    SECTION("16450 mode: a second byte overwrites the unread one in RBR")
    {
        CHECK(port.receive({ 'a', 'b' }) == 1);
        CHECK(port.uart.overruns() == 1);
        CHECK(port.inb(lsr) == (lsr_dr | lsr_oe | lsr_thre | lsr_temt));
        CHECK(port.inb(lsr) == (lsr_dr | lsr_thre | lsr_temt)); // reading LSR cleared OE
        CHECK(port.inb(rbr) == 'b');
        CHECK((port.inb(lsr) & lsr_dr) == 0);
    }
    SECTION("FIFO mode: the byte that finds the FIFO full is lost")
    {
        port.outb(fcr, fcr_enable);
        CHECK(port.receive_count(17, 'A') == 16);
        CHECK(port.uart.overruns() == 1);
        CHECK(port.uart.received_bytes() == 1 + 16);
        CHECK((port.inb(lsr) & lsr_oe) == lsr_oe);
        CHECK((port.inb(lsr) & lsr_oe) == 0);
        for (std::uint8_t expected = 'A'; expected < 'A' + 16; ++expected) {
            CHECK((port.inb(lsr) & lsr_dr) == lsr_dr);
            CHECK(port.inb(rbr) == expected);
        }
        CHECK((port.inb(lsr) & lsr_dr) == 0);
    }
}

TEST_CASE("Uart16550 receive() returns how many bytes fit", "[uart16550]")
{
    Port port;
    port.outb(fcr, fcr_enable);
    CHECK(port.uart.receive_room() == 16);
    CHECK(port.receive_count(10) == 10);
    CHECK(port.uart.receive_room() == 6);
    CHECK(port.receive_count(10) == 6);
    CHECK_FALSE(port.uart.can_receive());
    CHECK(port.uart.receive_room() == 0);
    CHECK(port.receive_count(1) == 0);
    CHECK(port.receive({}) == 0);
    CHECK(port.uart.overruns() == 5);
    CHECK(port.uart.received_bytes() == 16);
    (void)port.inb(rbr);
    CHECK(port.uart.can_receive());
    CHECK(port.uart.receive_room() == 1);
}

TEST_CASE("Uart16550 divisor latch: DLAB switches offsets 0 and 1 to DLL and DLM", "[uart16550]")
{
    Port port;
    port.outb(ier, ier_rx | ier_thre);
    REQUIRE(port.receive({ 'r' }) == 1);

    port.outb(lcr, lcr_dlab | lcr_8n1);
    port.outb(dll, 0x01); // 115200 baud
    port.outb(dlm, 0x02);
    CHECK(port.transmitted.empty()); // a DLL write is not a THR write
    CHECK(port.uart.transmitted_bytes() == 0);
    CHECK(port.inb(dll) == 0x01);
    CHECK(port.inb(dlm) == 0x02);
    CHECK(port.inb(lcr) == (lcr_dlab | lcr_8n1));
    CHECK((port.inb(lsr) & lsr_dr) == lsr_dr); // reading DLL did not consume the byte
    CHECK((port.inb(iir) & 0x0f) == iir_rx);    // offset 2 is IIR whatever DLAB says

    port.outb(lcr, lcr_8n1);
    CHECK(port.inb(ier) == (ier_rx | ier_thre)); // the DLM write did not reach IER
    CHECK(port.inb(rbr) == 'r');
    port.outb(thr, 'T');
    CHECK(port.transmitted == std::vector<std::uint8_t> { 'T' });

    port.outb(lcr, lcr_dlab);
    CHECK(port.inb(dll) == 0x01); // the latch kept its value
    CHECK(port.inb(dlm) == 0x02);
}

TEST_CASE("Uart16550 FIFO control: enable, clear, mode switches", "[uart16550]")
{
    Port port;
    port.outb(fcr, fcr_enable);
    CHECK((port.inb(iir) & iir_fifos) == iir_fifos);
    CHECK(port.uart.receive_room() == 16);
    REQUIRE(port.receive_count(5) == 5);

    SECTION("FCR bit 1 empties the receiver FIFO and clears itself")
    {
        port.outb(fcr, fcr_enable | fcr_clear_rx);
        CHECK((port.inb(lsr) & lsr_dr) == 0);
        CHECK(port.uart.receive_room() == 16);
        CHECK((port.inb(iir) & iir_fifos) == iir_fifos); // still in FIFO mode
        REQUIRE(port.receive({ 'n' }) == 1);
        CHECK(port.inb(rbr) == 'n'); // and the FIFO still works
    }
    SECTION("FCR bit 2 leaves the receiver alone")
    {
        port.outb(fcr, fcr_enable | fcr_clear_tx);
        CHECK(port.inb(rbr) == 0x30);
    }
    SECTION("leaving FIFO mode empties the FIFO and clears IIR bits 6-7")
    {
        port.outb(fcr, 0x00);
        CHECK((port.inb(iir) & iir_fifos) == 0);
        CHECK((port.inb(lsr) & lsr_dr) == 0);
        CHECK(port.uart.receive_room() == 1);
    }
    SECTION("rewriting FCR with bit 0 still set keeps the bytes")
    {
        port.outb(fcr, fcr_enable | 0xc0);
        CHECK(port.inb(rbr) == 0x30);
    }
    SECTION("entering FIFO mode empties the 16450 receiver buffer")
    {
        port.outb(fcr, 0x00);
        REQUIRE(port.receive({ 'o' }) == 1);
        port.outb(fcr, fcr_enable);
        CHECK((port.inb(lsr) & lsr_dr) == 0);
    }
}

TEST_CASE("Uart16550 FIFO trigger levels: data available at the level, timeout below it", "[uart16550]")
{
    struct Trigger {
        std::uint8_t bits;
        std::size_t level;
    };
    for (Trigger trigger : { Trigger { 0x00, 1 }, Trigger { 0x40, 4 }, Trigger { 0x80, 8 }, Trigger { 0xc0, 14 } }) {
        CAPTURE(trigger.bits, trigger.level);
        Port port;
        port.outb(fcr, static_cast<std::uint8_t>(fcr_enable | trigger.bits));
        port.outb(ier, ier_rx);
        CHECK(port.inb(iir) == (iir_fifos | iir_none));
        REQUIRE(port.receive_count(trigger.level - 1) == trigger.level - 1);
        // Below the trigger: the character timeout, reported at once (the model has no clock).
        CHECK(port.inb(iir) == (iir_fifos | (trigger.level > 1 ? iir_timeout : iir_none)));
        REQUIRE(port.receive_count(1) == 1);
        CHECK(port.inb(iir) == (iir_fifos | iir_rx));
        (void)port.inb(rbr); // back below the trigger level
        CHECK(port.inb(iir) == (iir_fifos | (trigger.level > 1 ? iir_timeout : iir_none)));
        for (std::size_t index = 1; index < trigger.level; ++index)
            (void)port.inb(rbr);
        CHECK(port.inb(iir) == (iir_fifos | iir_none));
    }
}

TEST_CASE("Uart16550 16450 mode: RBR full is data available, and there is no timeout", "[uart16550]")
{
    Port port;
    port.outb(ier, ier_rx);
    CHECK(port.inb(iir) == iir_none);
    REQUIRE(port.receive({ 'z' }) == 1);
    CHECK(port.inb(iir) == iir_rx); // bits 6-7 clear: FIFOs off
    CHECK(port.inb(rbr) == 'z');
    CHECK(port.inb(iir) == iir_none);
}

TEST_CASE("Uart16550 receive() raises the interrupt line itself, and RBR reads lower it", "[uart16550]")
{
    // A VMM feeds host input between guest accesses: the line must rise in receive(), not at
    // the guest's next register access (which an idle guest, halted until an interrupt,
    // would never make).
    Port port;
    port.outb(mcr, mcr_out2);
    port.outb(ier, ier_rx);
    port.outb(fcr, fcr_enable | 0x40); // trigger level 4
    CHECK(port.line.levels().empty());
    REQUIRE(port.receive({ 'a', 'b' }) == 2); // below the trigger: the character timeout
    CHECK(port.line.levels() == std::vector<bool> { true });
    (void)port.inb(rbr);
    (void)port.inb(rbr);
    CHECK(port.line.levels() == std::vector<bool> { true, false });
    REQUIRE(port.receive_count(4) == 4); // at the trigger level
    CHECK(port.line.levels() == std::vector<bool> { true, false, true });
    CHECK(port.inb(iir) == (iir_fifos | iir_rx));
}

TEST_CASE("Uart16550 IIR reports the highest-priority source: line status, data, THRE, modem status", "[uart16550]")
{
    Port port;
    port.outb(fcr, fcr_enable);
    port.outb(mcr, mcr_out2);
    REQUIRE(port.receive_count(17) == 16); // one overrun: OE
    port.outb(mcr, mcr_loop | mcr_out2);   // CTS and DSR drop: DCTS and DDSR
    port.outb(ier, ier_rx | ier_thre | ier_line_status | ier_modem_status);
    CHECK(port.line.asserted());

    CHECK(port.inb(iir) == (iir_fifos | iir_line_status));
    CHECK(port.inb(iir) == (iir_fifos | iir_line_status)); // reading IIR does not clear it
    CHECK((port.inb(lsr) & lsr_oe) == lsr_oe);
    CHECK(port.inb(iir) == (iir_fifos | iir_rx));
    for (int index = 0; index < 16; ++index)
        (void)port.inb(rbr);
    CHECK(port.line.asserted());
    CHECK(port.inb(iir) == (iir_fifos | iir_thre)); // this read acknowledges THRE...
    CHECK(port.inb(iir) == (iir_fifos | iir_modem_status)); // ...so modem status shows
    CHECK(port.line.asserted());
    CHECK((port.inb(msr) & (msr_dcts | msr_ddsr)) == (msr_dcts | msr_ddsr));
    CHECK(port.inb(iir) == (iir_fifos | iir_none));
    CHECK_FALSE(port.line.asserted());
}

TEST_CASE("Uart16550 IIR hides THRE behind a higher source without acknowledging it", "[uart16550]")
{
    Port port;
    port.outb(ier, ier_rx | ier_thre);
    REQUIRE(port.receive({ 'q' }) == 1);
    CHECK(port.inb(iir) == iir_rx);
    CHECK(port.inb(iir) == iir_rx);
    (void)port.inb(rbr);
    CHECK(port.inb(iir) == iir_thre); // still pending after the two reads above
    CHECK(port.inb(iir) == iir_none);
}

TEST_CASE("Uart16550 THRE interrupt: raised by enabling it, cleared by the IIR read, raised again by THR", "[uart16550]")
{
    Port port;
    port.outb(mcr, mcr_out2);
    CHECK(port.line.levels().empty());

    port.outb(ier, ier_thre);
    CHECK(port.line.levels() == std::vector<bool> { true });
    CHECK(port.inb(iir) == iir_thre);
    CHECK(port.line.levels() == std::vector<bool> { true, false });
    CHECK(port.inb(iir) == iir_none);

    port.outb(thr, 'a'); // the byte leaves at once: THR is empty again
    CHECK(port.line.levels() == std::vector<bool> { true, false, true });
    CHECK(port.inb(iir) == iir_thre);
    CHECK_FALSE(port.line.asserted());

    SECTION("rewriting IER with ETBEI already set does not raise it again")
    {
        port.outb(ier, ier_thre | ier_rx);
        CHECK(port.inb(iir) == iir_none);
        CHECK_FALSE(port.line.asserted());
    }
    SECTION("clearing ETBEI and setting it again does")
    {
        port.outb(ier, 0);
        port.outb(ier, ier_thre);
        CHECK(port.line.asserted());
        CHECK(port.inb(iir) == iir_thre);
    }
    SECTION("with ETBEI clear, THR writes raise nothing")
    {
        port.outb(ier, 0);
        port.outb(thr, 'b');
        CHECK(port.inb(iir) == iir_none);
        CHECK_FALSE(port.line.asserted());
    }
    SECTION("switching FIFO mode raises it (PC16550D §8.11)")
    {
        port.outb(fcr, fcr_enable);
        CHECK(port.inb(iir) == (iir_fifos | iir_thre));
        CHECK(port.inb(iir) == (iir_fifos | iir_none));
    }
}

TEST_CASE("Uart16550 passes the THRE tests of Linux's 8250 startup", "[uart16550]")
{
    // serial8250_do_startup(): clear the FIFOs, read LSR, RBR, IIR and MSR, then toggle THRI
    // and expect THRE in IIR both times; otherwise it flags the port UART_BUG_THRE and kicks
    // the transmitter from a timer.
    Port port;
    port.outb(fcr, fcr_enable);
    port.outb(fcr, fcr_enable | fcr_clear_rx | fcr_clear_tx);
    port.outb(fcr, 0);
    (void)port.inb(lsr);
    (void)port.inb(rbr);
    (void)port.inb(iir);
    (void)port.inb(msr);
    CHECK(port.inb(lsr) != 0xff);
    port.outb(mcr, mcr_dtr | mcr_rts | mcr_out2);

    port.outb(ier, ier_thre);
    std::uint8_t first = port.inb(iir);
    port.outb(ier, 0);
    port.outb(ier, ier_thre);
    std::uint8_t second = port.inb(iir);
    port.outb(ier, 0);
    CHECK((first & iir_none) == 0);
    CHECK((second & iir_none) == 0);
    CHECK((first & 0x0f) == iir_thre);
    CHECK((second & 0x0f) == iir_thre);

    // Then the UART_BUG_TXEN test: enabling THRI with the transmitter empty must interrupt.
    port.outb(ier, ier_thre);
    std::uint8_t line_status = port.inb(lsr);
    std::uint8_t identification = port.inb(iir);
    port.outb(ier, 0);
    CHECK((line_status & lsr_temt) == lsr_temt);
    CHECK((identification & iir_none) == 0);
}

TEST_CASE("Uart16550 MCR.OUT2 gates the interrupt line", "[uart16550]")
{
    Port port;
    port.outb(ier, ier_rx);
    REQUIRE(port.receive({ 'g' }) == 1);
    CHECK(port.inb(iir) == iir_rx); // pending...
    CHECK(port.line.levels().empty()); // ...but OUT2 is clear

    port.outb(mcr, mcr_out2);
    CHECK(port.line.levels() == std::vector<bool> { true });
    port.outb(mcr, mcr_out2 | mcr_dtr | mcr_rts); // no change of level: no call
    CHECK(port.line.levels() == std::vector<bool> { true });
    port.outb(mcr, mcr_dtr | mcr_rts);
    CHECK(port.line.levels() == std::vector<bool> { true, false });
    port.outb(mcr, mcr_out2);
    CHECK(port.line.levels() == std::vector<bool> { true, false, true });
    (void)port.inb(rbr);
    CHECK(port.line.levels() == std::vector<bool> { true, false, true, false });
}

TEST_CASE("Uart16550 loopback: THR bytes come back through RBR and MSR mirrors MCR", "[uart16550]")
{
    Port port;
    port.outb(mcr, mcr_loop);
    // The inputs went from the always-ready modem (CTS, DSR, DCD) to the cleared outputs.
    CHECK(port.inb(msr) == (msr_dcts | msr_ddsr | msr_ddcd));
    CHECK(port.inb(msr) == 0x00); // reading MSR cleared the deltas

    port.outb(thr, 'L');
    CHECK(port.transmitted.empty());
    CHECK(port.uart.transmitted_bytes() == 0);
    CHECK((port.inb(lsr) & lsr_dr) == lsr_dr);
    CHECK(port.inb(rbr) == 'L');

    struct Mirror {
        std::uint8_t output;
        std::uint8_t input;
    };
    for (Mirror mirror : { Mirror { mcr_rts, msr_cts }, Mirror { mcr_dtr, msr_dsr }, Mirror { mcr_out1, msr_ri }, Mirror { mcr_out2, msr_dcd } }) {
        CAPTURE(mirror.output, mirror.input);
        port.outb(mcr, static_cast<std::uint8_t>(mcr_loop | mirror.output));
        CHECK((port.inb(msr) & 0xf0) == mirror.input);
        port.outb(mcr, mcr_loop);
        CHECK((port.inb(msr) & 0xf0) == 0x00);
    }

    SECTION("the delta bits follow the changes; TERI only on the trailing edge of RI")
    {
        port.outb(mcr, mcr_loop | mcr_out1); // RI rises
        CHECK(port.inb(msr) == msr_ri);
        port.outb(mcr, mcr_loop); // RI falls
        CHECK(port.inb(msr) == msr_teri);
        port.outb(mcr, mcr_loop | mcr_rts | mcr_dtr | mcr_out2);
        CHECK(port.inb(msr) == (msr_cts | msr_dsr | msr_dcd | msr_dcts | msr_ddsr | msr_ddcd));
        port.outb(mcr, mcr_loop | mcr_rts | mcr_dtr | mcr_out2); // no change, no delta
        CHECK(port.inb(msr) == (msr_cts | msr_dsr | msr_dcd));
    }
    SECTION("a delta raises the modem status interrupt until MSR is read")
    {
        port.outb(ier, ier_modem_status);
        port.outb(mcr, mcr_loop | mcr_out2); // DCD rises; OUT2 also opens the gate
        CHECK(port.inb(iir) == iir_modem_status);
        CHECK(port.line.asserted());
        CHECK(port.inb(msr) == (msr_dcd | msr_ddcd));
        CHECK(port.inb(iir) == iir_none);
        CHECK_FALSE(port.line.asserted());
    }
    SECTION("the host's line is disconnected from the receiver")
    {
        CHECK_FALSE(port.uart.can_receive());
        CHECK(port.receive({ 'h' }) == 0);
        CHECK((port.inb(lsr) & (lsr_dr | lsr_oe)) == 0);
        CHECK(port.uart.overruns() == 0);
        port.outb(mcr, 0);
        CHECK(port.uart.can_receive());
    }
    SECTION("a THR write into a full receiver is an overrun")
    {
        port.outb(thr, '1');
        port.outb(thr, '2');
        CHECK(port.uart.overruns() == 1);
        CHECK((port.inb(lsr) & lsr_oe) == lsr_oe);
        CHECK(port.inb(rbr) == '2'); // 16450 mode: the new byte replaced the old
    }
    SECTION("leaving loopback reconnects the always-ready modem")
    {
        port.outb(mcr, 0);
        CHECK(port.inb(msr) == (msr_cts | msr_dsr | msr_dcd | msr_dcts | msr_ddsr | msr_ddcd));
        port.outb(thr, 'o');
        CHECK(port.transmitted == std::vector<std::uint8_t> { 'o' });
    }
}

TEST_CASE("Uart16550 scratch register keeps what the guest wrote", "[uart16550]")
{
    // autoconfig_8250() tells a 16450 from an 8250 this way: write A5h and 5Ah, read back.
    Port port;
    CHECK(port.inb(scr) == 0x00);
    port.outb(scr, 0xa5);
    CHECK(port.inb(scr) == 0xa5);
    port.outb(scr, 0x5a);
    CHECK(port.inb(scr) == 0x5a);
    port.outb(lcr, lcr_dlab);
    CHECK(port.inb(scr) == 0x5a); // DLAB does not touch offset 7
    CHECK(port.transmitted.empty());
}

TEST_CASE("Uart16550 is a 16550A to Linux's 8250 autoconfig()", "[uart16550]")
{
    // The probe of drivers/tty/serial/8250/8250_port.c, autoconfig() and autoconfig_16550a(),
    // step by step, with what each step needs to see to conclude "16550A".
    Port port;

    // IER existence test: IER reads back 0 and then 0Fh (bits 7-4 masked off).
    std::uint8_t saved_ier = port.inb(ier);
    port.outb(ier, 0);
    std::uint8_t ier_cleared = port.inb(ier) & 0x0f;
    port.outb(ier, 0x0f);
    std::uint8_t ier_set = port.inb(ier) & 0x0f;
    port.outb(ier, saved_ier);
    CHECK(ier_cleared == 0x00);
    CHECK(ier_set == 0x0f);

    // Loopback test: MCR = LOOP | OUT2 | RTS must show DCD | CTS in MSR's top nibble.
    std::uint8_t saved_mcr = port.inb(mcr);
    std::uint8_t saved_lcr = port.inb(lcr);
    port.outb(mcr, mcr_loop | 0x0a);
    std::uint8_t loop_status = port.inb(msr) & 0xf0;
    port.outb(mcr, saved_mcr);
    CHECK(loop_status == 0x90);

    // FIFO test: zero the EFR a 16650 would have at offset 2 under LCR = BFh (a 16550A takes
    // that as an FCR write), then enable the FIFOs; IIR bits 7-6 = 3 means a 16550A.
    port.outb(lcr, 0xbf);
    port.outb(2, 0x00);
    port.outb(lcr, 0x00);
    port.outb(fcr, fcr_enable);
    CHECK((port.inb(iir) >> 6) == 3);

    // autoconfig_16550a() with the variant probes (CONFIG_SERIAL_8250_16550A_VARIANTS):
    // no EFR under LCR = 80h or BFh (offset 2 reads IIR, never 0 with the FIFOs on)...
    port.outb(lcr, 0x80);
    CHECK(port.inb(2) != 0x00);
    port.outb(lcr, 0xbf);
    CHECK(port.inb(2) != 0x00);
    // ...not a National SuperIO (offset 2 under LCR = E0h does not follow MCR.LOOP)...
    port.outb(lcr, 0x00);
    std::uint8_t mcr_before = port.inb(mcr);
    port.outb(lcr, 0xe0);
    std::uint8_t excr1 = port.inb(2);
    CHECK(((excr1 ^ mcr_before) & mcr_loop) == 0);
    port.outb(lcr, 0x00);
    port.outb(mcr, static_cast<std::uint8_t>(mcr_before ^ mcr_loop));
    port.outb(lcr, 0xe0);
    excr1 = port.inb(2);
    port.outb(lcr, 0x00);
    port.outb(mcr, mcr_before);
    CHECK(((excr1 ^ mcr_before) & mcr_loop) == 0);
    // ...no 64-byte FIFO (a TI16750 sets IIR bit 5 after FCR bit 5 under DLAB)...
    port.outb(fcr, fcr_enable | 0x20);
    std::uint8_t without_dlab = port.inb(iir) & 0xe0;
    port.outb(fcr, fcr_enable);
    port.outb(lcr, 0x80);
    port.outb(fcr, fcr_enable | 0x20);
    std::uint8_t with_dlab = port.inb(iir) & 0xe0;
    port.outb(fcr, fcr_enable);
    port.outb(lcr, 0x00);
    CHECK(without_dlab == 0xc0);
    CHECK(with_dlab == 0xc0);
    // ...and not an XScale (IER bit 6, UUE, does not stick).
    std::uint8_t ier_saved = port.inb(ier);
    port.outb(ier, static_cast<std::uint8_t>(ier_saved | 0x40));
    CHECK((port.inb(ier) & 0x40) == 0);
    port.outb(ier, ier_saved);

    port.outb(lcr, saved_lcr);
    CHECK(port.transmitted.empty()); // probing sent nothing down the line
    CHECK(port.line.levels().empty()); // nor raised an interrupt (IER stayed 0)
}

TEST_CASE("Uart16550 accepts any access: wide ones byte by byte, offsets past 7 float", "[uart16550]")
{
    Port port;
    port.outb(scr, 0x77);
    port.outb(mcr, mcr_dtr);

    std::array<std::uint8_t, 4> wide {};
    port.uart.read(4, wide); // MCR, LSR, MSR, SCR
    CHECK(wide == std::array<std::uint8_t, 4> { mcr_dtr, lsr_thre | lsr_temt, msr_cts | msr_dsr | msr_dcd, 0x77 });

    std::array<std::uint8_t, 2> past_end {};
    port.uart.read(7, past_end);
    CHECK(past_end == std::array<std::uint8_t, 2> { 0x77, 0xff });

    std::array<std::uint8_t, 2> word { 0x11, 0x22 };
    port.uart.write(6, word); // MSR (read-only) and SCR
    CHECK(port.inb(scr) == 0x22);
    CHECK(port.inb(msr) == (msr_cts | msr_dsr | msr_dcd));

    std::array<std::uint8_t, 2> text { 'o', 'k' };
    port.uart.write(0, text); // THR, then IER
    CHECK(port.transmitted == std::vector<std::uint8_t> { 'o' });
    CHECK(port.inb(ier) == ('k' & 0x0f));

    CHECK(port.inb(8) == 0xff);
    CHECK(port.inb(~std::uint64_t { 0 }) == 0xff);
    std::array<std::uint8_t, 8> far_away {};
    port.uart.read(~std::uint64_t { 0 } - 3, far_away);
    CHECK(far_away == std::array<std::uint8_t, 8> { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff });
    port.outb(8, 0x55);
    port.uart.write(~std::uint64_t { 0 } - 3, far_away);
    CHECK(port.transmitted.size() == 1);
    CHECK(port.inb(scr) == 0x22);

    port.outb(lsr, 0xff); // LSR is read-only here
    CHECK(port.inb(lsr) == (lsr_thre | lsr_temt));
    port.outb(ier, 0xff);
    CHECK(port.inb(ier) == 0x0f); // IER bits 7-4 always read 0
    port.outb(mcr, 0xff);
    CHECK(port.inb(mcr) == 0x1f); // MCR bits 7-5 always read 0
}

TEST_CASE("Uart16550 survives random guest accesses and keeps its interrupt line consistent", "[uart16550]")
{
    Port port;
    std::mt19937 random(16550);
    std::uniform_int_distribution<int> byte(0, 255), offset(0, 9), action(0, 9);
    for (int step = 0; step < 100000; ++step) {
        auto value = static_cast<std::uint8_t>(byte(random));
        auto where = static_cast<std::uint64_t>(offset(random));
        int what = action(random);
        if (what < 4) {
            std::uint8_t value_read = port.inb(where);
            if (where == iir) {
                REQUIRE((value_read & 0x30) == 0); // IIR bits 5-4 are always 0
                REQUIRE(((value_read & iir_fifos) == 0 || (value_read & iir_fifos) == iir_fifos));
            }
            if (where == lsr) // no parity, framing or break errors; the transmitter always empty
                REQUIRE((value_read & (0x80 | 0x1c | lsr_thre | lsr_temt)) == (lsr_thre | lsr_temt));
        } else if (what < 8) {
            port.outb(where, value);
        } else {
            std::size_t room = port.uart.receive_room();
            std::size_t count = static_cast<std::size_t>(value) % 20;
            REQUIRE(port.receive_count(count) == std::min(room, count));
        }
    }
    // set_level() is called only on a change, so the recorded levels alternate, starting high.
    auto levels = port.line.levels();
    REQUIRE_FALSE(levels.empty());
    for (std::size_t index = 0; index < levels.size(); ++index)
        REQUIRE(levels[index] == (index % 2 == 0));
    CHECK(port.uart.transmitted_bytes() == port.transmitted.size());
}
