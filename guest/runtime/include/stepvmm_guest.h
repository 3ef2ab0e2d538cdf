/* The stepvmm guest runtime: what a freestanding 64-bit test guest needs to talk to its VMM.
 * Ucalls (see abi/guest_abi.h) work from ring 0 and, with IOPL 3, from ring 3. */
#ifndef STEPVMM_GUEST_H
#define STEPVMM_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stepvmm/abi/guest_abi.h>

/* Provided by each guest: its program. The return value becomes the DONE status. */
uint64_t guest_main(const struct stepvmm_boot_info *info);

/* The boot info the VMM passed in RDI, checked for magic and version before guest_main. */
extern const struct stepvmm_boot_info *boot_info;

void guest_print(const char *text);
/* printf subset: %s %c %d %u %x %lu %lx %llu %llx %p and %% (l/ll are 64-bit here). */
void guest_printf(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* Formats into buffer (always NUL-terminated); returns the length written. */
size_t guest_format(char *buffer, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* Formats into buffer (always NUL-terminated); returns the length written. */
size_t guest_vformat(char *buffer, size_t size, const char *format, va_list args);

/* Stops at a numbered sync point; the VMM inspects the VM, then resumes us. */
void guest_sync(uint64_t stage);
/* Hands the VMM a named number (a count, a TSC delta) to print or check. */
void guest_report(const char *name, uint64_t value);
/* Ends the run. status 0 means success. */
__attribute__((noreturn)) void guest_done(uint64_t status);
__attribute__((noreturn)) void guest_fail(const char *file, int line, const char *expression);

/* __FILE_NAME__ (GCC 12+) keeps the build machine's paths out of the message. */
#ifdef __FILE_NAME__
#define STEPVMM_GUEST_FILE __FILE_NAME__
#else
#define STEPVMM_GUEST_FILE __FILE__
#endif

#define GUEST_ASSERT(condition) \
    do { \
        if (!(condition)) \
            guest_fail(STEPVMM_GUEST_FILE, __LINE__, #condition); \
    } while (0)

/* Switches to ring 3 and calls function(argument) on the given stack; if it returns, its
 * value becomes the DONE status. Page tables must allow user access (the VMM's do). */
__attribute__((noreturn)) void enter_user_mode(uint64_t (*function)(void *), void *argument, void *stack_top);

static inline void outl(uint16_t port, uint32_t value)
{
    __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t value;
    __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}

static inline void outw(uint16_t port, uint16_t value)
{
    __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t value;
    __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}

static inline void mmio_write32(uint64_t address, uint32_t value)
{
    *(volatile uint32_t *)(uintptr_t)address = value;
}

static inline uint64_t rdtsc(void)
{
    uint32_t low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    return ((uint64_t)high << 32) | low;
}

/* A polled 16550 UART driver (runtime/uart.c), as an early-boot kernel console would be. */
void uart_init(uint16_t base);
void uart_put_char(uint16_t base, char c);
void uart_write(uint16_t base, const char *text);
/* Returns the next received byte, or -1 if none arrives within `timeout_tsc` TSC ticks. */
int uart_get_char(uint16_t base, uint64_t timeout_tsc);

/* Interrupts (runtime/interrupts.c, interrupt_entry.S): vectors 0-31 are exceptions (they
 * end the run with the vector and the frame), 32-47 are free for the PICs, 48-63 for MSIs. Handlers run in
 * ring 0 with interrupts off and must acknowledge their interrupt controller themselves. */
typedef void (*interrupt_handler)(uint8_t vector);
void interrupts_init(void);
void set_interrupt_handler(uint8_t vector, interrupt_handler handler);
void pic_init(uint8_t master_vector, uint8_t slave_vector);
void pic_unmask(uint8_t irq);
void pic_mask(uint8_t irq);
void pic_end_of_interrupt(uint8_t irq);
void pit_start_periodic(uint32_t hertz);
/* Software-enables the local APIC (needed to receive MSIs) and acknowledges an interrupt. */
void lapic_enable(uint8_t spurious_vector);
void lapic_end_of_interrupt(void);

/* Sleeps until an interrupt has been handled. STI's one-instruction shadow makes "STI; HLT"
 * atomic: an interrupt pending at STI wakes the HLT instead of slipping in before it. */
static inline void wait_for_interrupt(void)
{
    __asm__ volatile("sti; hlt; cli" ::: "memory");
}

void *memset(void *destination, int value, size_t count);
void *memcpy(void *destination, const void *source, size_t count);
size_t strlen(const char *text);

#endif
