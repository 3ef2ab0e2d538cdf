/* The guest side of virtio-mmio, version 2 (virtio 1.2 §4.2.2): 32-bit registers at a base
 * address, one level-triggered interrupt line (here: a PIC input). */
#include "virtio_transport.h"

#include <ch06_virtio_blk_abi.h>
#include <stepvmm_guest.h>

static uint64_t base;
static uint8_t irq;

static uint32_t read_register(uint32_t offset) { return *(volatile uint32_t *)(uintptr_t)(base + offset); }
static void write_register(uint32_t offset, uint32_t value) { *(volatile uint32_t *)(uintptr_t)(base + offset) = value; }

static uint8_t status(void) { return (uint8_t)read_register(0x70); }
static void set_status(uint8_t value) { write_register(0x70, value); }

static uint32_t device_features(uint32_t select)
{
    write_register(0x14, select);
    return read_register(0x10);
}

static void set_driver_features(uint32_t select, uint32_t features)
{
    write_register(0x24, select);
    write_register(0x20, features);
}

static uint16_t queue_max_size(uint16_t queue)
{
    write_register(0x30, queue);
    return (uint16_t)read_register(0x34);
}

static void setup_queue(uint16_t queue, uint16_t size, uint64_t descriptors, uint64_t avail, uint64_t used)
{
    write_register(0x30, queue);
    write_register(0x38, size);
    write_register(0x80, (uint32_t)descriptors);
    write_register(0x84, (uint32_t)(descriptors >> 32));
    write_register(0x90, (uint32_t)avail);
    write_register(0x94, (uint32_t)(avail >> 32));
    write_register(0xa0, (uint32_t)used);
    write_register(0xa4, (uint32_t)(used >> 32));
    write_register(0x44, 1); /* QueueReady */
    pic_unmask(irq);
}

static void notify(uint16_t queue) { write_register(0x50, queue); }

static uint64_t capacity(void) { return (uint64_t)read_register(0x100) | (uint64_t)read_register(0x104) << 32; }

static void acknowledge_interrupt(uint8_t vector)
{
    (void)vector;
    write_register(0x64, read_register(0x60)); /* InterruptACK what InterruptStatus shows */
    pic_end_of_interrupt(irq);
}

static void mask_interrupts(void) { pic_mask(irq); }

static struct transport mmio = {
    .describe = "virtio-blk over virtio-mmio\n",
    .status = status,
    .set_status = set_status,
    .device_features = device_features,
    .set_driver_features = set_driver_features,
    .queue_max_size = queue_max_size,
    .setup_queue = setup_queue,
    .notify = notify,
    .capacity = capacity,
    .acknowledge_interrupt = acknowledge_interrupt,
    .mask_interrupts = mask_interrupts,
};

const struct transport *mmio_transport_probe(const struct transport_setup *setup)
{
    base = setup->mmio_base;
    irq = setup->legacy_irq;
    /* §4.2.3.1.1: check the magic value, the version and that a device is present. */
    if (read_register(0x00) != 0x74726976 || read_register(0x04) != 2 || read_register(0x08) != 2) {
        guest_printf("no virtio-mmio block device at %#lx\n", base);
        return 0;
    }
    mmio.interrupt_vector = (uint8_t)((irq < 8 ? CH06_PIC_MASTER_VECTOR : CH06_PIC_SLAVE_VECTOR - 8) + irq);
    return &mmio;
}
