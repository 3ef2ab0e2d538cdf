/* A polled driver for a 16550 UART at an I/O port base: the minimum an early kernel console
 * does (compare Linux's arch/x86/boot/early_serial_console.c). Registers per the PC16550D
 * datasheet: 0 THR/RBR (DLL), 1 IER (DLM), 2 FCR, 3 LCR, 4 MCR, 5 LSR. */
#include <stepvmm_guest.h>

enum {
    UART_DATA = 0,
    UART_INTERRUPT_ENABLE = 1,
    UART_FIFO_CONTROL = 2,
    UART_LINE_CONTROL = 3,
    UART_MODEM_CONTROL = 4,
    UART_LINE_STATUS = 5,
};

enum {
    LINE_CONTROL_8N1 = 0x03,
    LINE_CONTROL_DLAB = 0x80,
    LINE_STATUS_DATA_READY = 0x01,
    LINE_STATUS_THR_EMPTY = 0x20,
    MODEM_CONTROL_DTR_RTS_OUT2 = 0x0b,
    FIFO_ENABLE_AND_CLEAR = 0x07,
};

void uart_init(uint16_t base)
{
    outb((uint16_t)(base + UART_INTERRUPT_ENABLE), 0);               /* polled: no interrupts */
    outb((uint16_t)(base + UART_LINE_CONTROL), LINE_CONTROL_DLAB);  /* divisor latch on */
    outb((uint16_t)(base + UART_DATA), 1);                          /* divisor 1: 115200 baud */
    outb((uint16_t)(base + UART_INTERRUPT_ENABLE), 0);
    outb((uint16_t)(base + UART_LINE_CONTROL), LINE_CONTROL_8N1);   /* 8 data bits, no parity, 1 stop */
    outb((uint16_t)(base + UART_FIFO_CONTROL), FIFO_ENABLE_AND_CLEAR);
    outb((uint16_t)(base + UART_MODEM_CONTROL), MODEM_CONTROL_DTR_RTS_OUT2);
}

void uart_put_char(uint16_t base, char c)
{
    /* One LSR read (an exit) and one THR write (another exit) per character. */
    while (!(inb((uint16_t)(base + UART_LINE_STATUS)) & LINE_STATUS_THR_EMPTY))
        ;
    outb((uint16_t)(base + UART_DATA), (uint8_t)c);
}

void uart_write(uint16_t base, const char *text)
{
    for (; *text; ++text) {
        if (*text == '\n')
            uart_put_char(base, '\r');
        uart_put_char(base, *text);
    }
}

int uart_get_char(uint16_t base, uint64_t timeout_tsc)
{
    uint64_t start = rdtsc();
    do {
        if (inb((uint16_t)(base + UART_LINE_STATUS)) & LINE_STATUS_DATA_READY)
            return inb((uint16_t)(base + UART_DATA));
    } while (rdtsc() - start < timeout_tsc);
    return -1;
}
