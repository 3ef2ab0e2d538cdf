/* Interrupts for stepvmm guests: an IDT for the 32 exceptions, 16 legacy IRQs and 16 more
 * vectors (for MSIs), the two 8259 PICs (the in-kernel ones KVM_CREATE_IRQCHIP provides),
 * the 8254 PIT, and the local APIC's enable and end-of-interrupt registers. */
#include <stepvmm_guest.h>

struct idt_entry {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attributes;
    uint16_t offset_middle;
    uint32_t offset_high;
    uint32_t reserved;
} __attribute__((packed));

struct idt_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

#define VECTORS 64u
#define KERNEL_CODE_SELECTOR 0x08
#define INTERRUPT_GATE_PRESENT 0x8e /* P=1, DPL=0, type 14: 64-bit interrupt gate (IF cleared) */

extern const uint64_t interrupt_stubs[VECTORS];
static struct idt_entry idt[VECTORS] __attribute__((aligned(16)));
static interrupt_handler handlers[VECTORS];

void interrupt_dispatch(uint64_t vector, const uint64_t *frame);
void interrupt_dispatch(uint64_t vector, const uint64_t *frame)
{
    if (vector < VECTORS && handlers[vector]) {
        handlers[vector]((uint8_t)vector);
        return;
    }
    /* An exception or an interrupt nobody expected: stop with the evidence. (For exceptions
     * with an error code, frame[0] is the error code and frame[1] the RIP.) */
    char text[STEPVMM_UCALL_TEXT_SIZE];
    guest_format(text, sizeof(text), "unexpected interrupt vector %lu, frame %#lx %#lx", vector, frame[0], frame[1]);
    guest_fail("interrupts.c", 0, text);
}

void interrupts_init(void)
{
    for (unsigned vector = 0; vector < VECTORS; ++vector) {
        uint64_t offset = interrupt_stubs[vector];
        idt[vector] = (struct idt_entry) {
            .offset_low = (uint16_t)offset,
            .selector = KERNEL_CODE_SELECTOR,
            .type_attributes = INTERRUPT_GATE_PRESENT,
            .offset_middle = (uint16_t)(offset >> 16),
            .offset_high = (uint32_t)(offset >> 32),
        };
    }
    struct idt_pointer pointer = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(pointer));
}

void set_interrupt_handler(uint8_t vector, interrupt_handler handler) { handlers[vector] = handler; }

/* 8259A (Intel 8259A datasheet; OSDev "8259 PIC"): ICW1-ICW4, then the interrupt masks. */
enum {
    PIC_MASTER_COMMAND = 0x20,
    PIC_MASTER_DATA = 0x21,
    PIC_SLAVE_COMMAND = 0xa0,
    PIC_SLAVE_DATA = 0xa1,
    PIC_ICW1_INIT_WITH_ICW4 = 0x11, /* edge triggered, cascade, ICW4 follows */
    PIC_ICW4_8086 = 0x01,
    PIC_END_OF_INTERRUPT = 0x20,    /* non-specific EOI (OCW2) */
};

static uint16_t pic_masks = 0xffff;

static void pic_write_masks(void)
{
    outb(PIC_MASTER_DATA, (uint8_t)pic_masks);
    outb(PIC_SLAVE_DATA, (uint8_t)(pic_masks >> 8));
}

void pic_init(uint8_t master_vector, uint8_t slave_vector)
{
    outb(PIC_MASTER_COMMAND, PIC_ICW1_INIT_WITH_ICW4);
    outb(PIC_SLAVE_COMMAND, PIC_ICW1_INIT_WITH_ICW4);
    outb(PIC_MASTER_DATA, master_vector); /* ICW2: vector of IRQ 0 */
    outb(PIC_SLAVE_DATA, slave_vector);   /* ICW2: vector of IRQ 8 */
    outb(PIC_MASTER_DATA, 0x04);          /* ICW3: a slave on IRQ 2 */
    outb(PIC_SLAVE_DATA, 0x02);           /* ICW3: cascade identity 2 */
    outb(PIC_MASTER_DATA, PIC_ICW4_8086);
    outb(PIC_SLAVE_DATA, PIC_ICW4_8086);
    pic_masks = 0xffff & ~(1u << 2);      /* all masked but the cascade */
    pic_write_masks();
}

void pic_unmask(uint8_t irq)
{
    pic_masks &= (uint16_t)~(1u << irq);
    pic_write_masks();
}

void pic_mask(uint8_t irq)
{
    pic_masks |= (uint16_t)(1u << irq);
    pic_write_masks();
}

void pic_end_of_interrupt(uint8_t irq)
{
    if (irq >= 8)
        outb(PIC_SLAVE_COMMAND, PIC_END_OF_INTERRUPT);
    outb(PIC_MASTER_COMMAND, PIC_END_OF_INTERRUPT);
}

/* 8254 PIT channel 0, mode 2 (rate generator), driving IRQ 0. */
void pit_start_periodic(uint32_t hertz)
{
    uint32_t divisor = 1193182u / hertz;
    outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2, binary */
    outb(0x40, (uint8_t)divisor);
    outb(0x40, (uint8_t)(divisor >> 8));
}

/* The local APIC (SDM Vol. 3A §11.4.1, xAPIC mode at its default base): MSIs are delivered
 * to it, so a guest that uses them software-enables it and acknowledges each one with an EOI.
 * The BSP's LINT0 stays in ExtINT mode, so the PICs keep working next to it. */
#define LAPIC_BASE 0xfee00000u
#define LAPIC_EOI 0xb0u
#define LAPIC_SPURIOUS 0xf0u

void lapic_enable(uint8_t spurious_vector)
{
    volatile uint32_t *spurious = (volatile uint32_t *)(uintptr_t)(LAPIC_BASE + LAPIC_SPURIOUS);
    *spurious = 0x100u | spurious_vector; /* bit 8: APIC software enable */
}

void lapic_end_of_interrupt(void) { *(volatile uint32_t *)(uintptr_t)(LAPIC_BASE + LAPIC_EOI) = 0; }
