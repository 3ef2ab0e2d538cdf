/* Chapter 04's guest: interrupt driven, in ring 0 (an interrupt in ring 3 would need IRETQ to
 * get back, which KVM's emulator on kvm_pvm cannot run; see runtime/interrupt_entry.S).
 *   1. Sets up an IDT, the two 8259 PICs and the 8254 PIT (all in-kernel in KVM).
 *   2. Echoes a typed line with UART receive interrupts (IRQ 4), the PIT bounding the wait.
 *   3. Drives the request queue: fill a batch, kick, sleep until the completion interrupt,
 *      check every answer. The guest cannot tell how the VMM delivers the kick and the
 *      interrupt — exit and KVM_IRQ_LINE, or ioeventfd and irqfd — and that is the point. */
#include <ch04_eventfd_abi.h>
#include <request_queue_abi.h>
#include <stepvmm_guest.h>

#define QUEUE_SIZE 256u

static struct {
    struct request_queue_header header;
    struct request_queue_request requests[QUEUE_SIZE];
} queue __attribute__((aligned(4096)));

static volatile uint64_t timer_ticks;
static volatile uint64_t device_interrupts;
static volatile uint64_t uart_interrupts;
static uint16_t uart;
static char line[128];
static volatile uint32_t line_length;
static volatile int line_complete;

static uint8_t irq_of(uint8_t vector) { return (uint8_t)(vector - CH04_PIC_MASTER_VECTOR); }

static void on_timer(uint8_t vector)
{
    ++timer_ticks;
    pic_end_of_interrupt(irq_of(vector));
}

static void on_uart(uint8_t vector)
{
    ++uart_interrupts;
    /* Drain the receive FIFO: one interrupt may announce several bytes. */
    while (inb((uint16_t)(uart + 5)) & 0x01) {
        char c = (char)inb(uart);
        if (c == '\r' || c == '\n') {
            line_complete = 1;
            uart_write(uart, "\n");
        } else if (!line_complete && line_length + 1 < sizeof(line)) {
            line[line_length++] = c;
            uart_put_char(uart, c); /* the guest echoes */
        }
    }
    pic_end_of_interrupt(irq_of(vector));
}

static void on_device(uint8_t vector)
{
    ++device_interrupts;
    pic_end_of_interrupt(irq_of(vector));
}

static void echo_typed_line(const struct stepvmm_boot_info *info)
{
    uint64_t limit = info->params[CH04_PARAM_ECHO_MILLISECONDS] * CH04_TIMER_HZ / 1000u;
    if (!limit)
        return;
    uint8_t irq = (uint8_t)info->params[CH04_PARAM_UART_IRQ];
    outb((uint16_t)(uart + 1), 0x01); /* IER: received-data interrupts */
    pic_unmask(irq);
    pic_unmask(0);
    pit_start_periodic(CH04_TIMER_HZ);
    uart_write(uart, "type a line and press Enter: ");
    uint64_t start = timer_ticks;
    while (!line_complete && timer_ticks - start < limit)
        wait_for_interrupt();
    pic_mask(0);
    if (!line_complete)
        uart_write(uart, line_length ? " (timed out)\n" : "(nothing typed)\n");
    guest_report("echoed_bytes", line_length);
    guest_report("uart_interrupts", uart_interrupts);
}

static void write_register(const struct stepvmm_boot_info *info, uint32_t offset, uint32_t value)
{
    uint64_t base = info->params[CH04_PARAM_DEVICE_ADDRESS];
    if (info->params[CH04_PARAM_DEVICE_IN_MMIO])
        mmio_write32(base + offset, value);
    else
        outl((uint16_t)(base + offset), value);
}

static void run_requests(const struct stepvmm_boot_info *info)
{
    uint64_t total = info->params[CH04_PARAM_REQUESTS];
    uint32_t batch = (uint32_t)info->params[CH04_PARAM_BATCH];
    GUEST_ASSERT(batch >= 1 && batch <= QUEUE_SIZE);
    uint64_t address = (uint64_t)(uintptr_t)&queue;
    write_register(info, REQUEST_QUEUE_ADDRESS_LOW, (uint32_t)address);
    write_register(info, REQUEST_QUEUE_ADDRESS_HIGH, (uint32_t)(address >> 32));
    write_register(info, REQUEST_QUEUE_SIZE, QUEUE_SIZE);
    pic_unmask((uint8_t)info->params[CH04_PARAM_DEVICE_IRQ]);

    volatile struct request_queue_header *header = &queue.header;
    uint64_t kicks = 0, round_trip_tsc = 0, seen_interrupts = device_interrupts;
    guest_sync(CH04_SYNC_REQUESTS_START);
    for (uint64_t done = 0; done < total;) {
        uint32_t count = total - done < batch ? (uint32_t)(total - done) : batch;
        uint32_t first = header->submitted;
        for (uint32_t i = 0; i < count; ++i)
            queue.requests[(first + i) % QUEUE_SIZE].input = done + i;
        /* The requests must be in memory before the index that offers them; x86 does not
         * reorder stores with stores, so a compiler barrier is enough. */
        __asm__ volatile("" ::: "memory");
        header->submitted = first + count;
        uint64_t start = rdtsc();
        write_register(info, REQUEST_QUEUE_DOORBELL, first + count); /* the kick */
        ++kicks;
        while (device_interrupts == seen_interrupts) /* one interrupt per kick */
            wait_for_interrupt();
        seen_interrupts = device_interrupts;
        round_trip_tsc += rdtsc() - start;
        GUEST_ASSERT(header->completed == first + count);
        for (uint32_t i = 0; i < count; ++i)
            GUEST_ASSERT(queue.requests[(first + i) % QUEUE_SIZE].output == request_queue_answer(done + i));
        done += count;
    }
    guest_sync(CH04_SYNC_REQUESTS_DONE);
    guest_report("requests", total);
    guest_report("kicks", kicks);
    guest_report("device_interrupts", device_interrupts);
    guest_report("round_trip_tsc", round_trip_tsc);
}

uint64_t guest_main(const struct stepvmm_boot_info *info)
{
    uart = (uint16_t)info->params[CH04_PARAM_UART_PORT];
    interrupts_init();
    pic_init(CH04_PIC_MASTER_VECTOR, CH04_PIC_SLAVE_VECTOR);
    set_interrupt_handler(CH04_PIC_MASTER_VECTOR + 0, on_timer);
    set_interrupt_handler((uint8_t)(CH04_PIC_MASTER_VECTOR + info->params[CH04_PARAM_UART_IRQ]), on_uart);
    set_interrupt_handler((uint8_t)(CH04_PIC_MASTER_VECTOR + info->params[CH04_PARAM_DEVICE_IRQ]), on_device);
    uart_init(uart);
    uart_write(uart, "hello from an interrupt-driven guest\n");
    echo_typed_line(info);
    run_requests(info);
    uart_write(uart, "ch04 guest: done\n");
    return 0;
}
