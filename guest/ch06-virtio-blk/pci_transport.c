/* The guest side of modern virtio-pci (virtio 1.2 §4.1): find the function on PCI bus 0 with
 * configuration mechanism #1, follow its vendor capabilities to the four structures in its
 * BAR, and take interrupts as MSI-X messages to the local APIC (or INTx through the PICs). */
#include "virtio_transport.h"

#include <ch06_virtio_blk_abi.h>
#include <stepvmm_guest.h>

static uint8_t slot;
static volatile uint8_t *common_config, *isr, *device_config, *notify_base;
static uint32_t notify_multiplier;
static volatile uint16_t *queue_notify_address; /* computed once: reading queue_notify_off costs an exit */
static uint8_t intx_irq, msix_capability;

static uint32_t config_read32(uint8_t offset)
{
    outl(0xcf8, 0x80000000u | (uint32_t)slot << 11 | (offset & 0xfcu));
    return inl(0xcfc);
}

static void config_write32(uint8_t offset, uint32_t value)
{
    outl(0xcf8, 0x80000000u | (uint32_t)slot << 11 | (offset & 0xfcu));
    outl(0xcfc, value);
}

static uint8_t config_read8(uint8_t offset) { return (uint8_t)(config_read32(offset) >> ((offset & 3u) * 8)); }

/* Where BAR `index` points: a memory BAR, 64-bit ones spanning two registers (PCI 3.0 §6.2.5.1).
 * Firmware assigned it (the stepvmm VMM plays firmware; under QEMU, SeaBIOS does). */
static uint64_t bar_address(uint8_t index)
{
    uint32_t low = config_read32((uint8_t)(0x10 + 4 * index));
    uint64_t address = low & ~0xfu;
    if ((low & 0x6u) == 0x4u)
        address |= (uint64_t)config_read32((uint8_t)(0x14 + 4 * index)) << 32;
    GUEST_ASSERT(!(low & 1u) && address); /* memory, and assigned */
    return address;
}

/* Common configuration fields (§4.1.4.3), accessed with their own widths. */
static uint8_t status(void) { return common_config[0x14]; }
static void set_status(uint8_t value) { common_config[0x14] = value; }

static uint32_t device_features(uint32_t select)
{
    *(volatile uint32_t *)(common_config + 0x00) = select;
    return *(volatile uint32_t *)(common_config + 0x04);
}

static void set_driver_features(uint32_t select, uint32_t features)
{
    *(volatile uint32_t *)(common_config + 0x08) = select;
    *(volatile uint32_t *)(common_config + 0x0c) = features;
}

static uint16_t queue_max_size(uint16_t queue)
{
    *(volatile uint16_t *)(common_config + 0x16) = queue;
    return *(volatile uint16_t *)(common_config + 0x18);
}

static void setup_queue(uint16_t queue, uint16_t size, uint64_t descriptors, uint64_t avail, uint64_t used)
{
    *(volatile uint16_t *)(common_config + 0x16) = queue;
    *(volatile uint16_t *)(common_config + 0x18) = size;
    *(volatile uint64_t *)(common_config + 0x20) = descriptors;
    *(volatile uint64_t *)(common_config + 0x28) = avail;
    *(volatile uint64_t *)(common_config + 0x30) = used;
    if (!intx_irq) {
        /* Vector 0 for this queue; §4.1.5.1.2: read back, NO_VECTOR means the device refused. */
        *(volatile uint16_t *)(common_config + 0x1a) = 0;
        GUEST_ASSERT(*(volatile uint16_t *)(common_config + 0x1a) == 0);
    } else {
        pic_unmask(intx_irq);
    }
    *(volatile uint16_t *)(common_config + 0x1c) = 1; /* queue_enable */
    /* §4.1.4.4: the queue's notify address is notify_base + queue_notify_off * multiplier. */
    uint16_t offset = *(volatile uint16_t *)(common_config + 0x1e);
    queue_notify_address = (volatile uint16_t *)(notify_base + (uint32_t)offset * notify_multiplier);
}

/* One store, which the VMM's ioeventfd absorbs: the whole cost of a kick (this driver has
 * one queue, so one address). */
static void notify(uint16_t queue) { *queue_notify_address = queue; }

static uint64_t capacity(void) { return *(volatile uint32_t *)device_config | (uint64_t) * (volatile uint32_t *)(device_config + 4) << 32; }

static void acknowledge_interrupt(uint8_t vector)
{
    (void)vector;
    if (intx_irq) {
        (void)*isr; /* reading ISR clears it and lowers INTx (§4.1.4.5) */
        pic_end_of_interrupt(intx_irq);
    } else {
        lapic_end_of_interrupt();
    }
}

static void mask_interrupts(void)
{
    if (intx_irq) {
        pic_mask(intx_irq);
        return;
    }
    /* MSI-X function mask (PCI 3.0 §6.8.2.3): nothing is sent, pending bits collect instead. */
    uint32_t header = config_read32(msix_capability);
    config_write32(msix_capability, header | (1u << 30));
}

static struct transport pci = {
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

static void enable_msix(uint8_t vector)
{
    uint32_t table = config_read32((uint8_t)(msix_capability + 4)); /* offset | BAR indicator */
    volatile uint32_t *entry = (volatile uint32_t *)(uintptr_t)(bar_address((uint8_t)(table & 7u)) + (table & ~7u));
    entry[0] = 0xfee00000u; /* message address: the local APIC of CPU 0 (SDM Vol. 3A §11.11.1) */
    entry[1] = 0;
    entry[2] = vector;      /* message data: fixed delivery, edge, this vector (§11.11.2) */
    entry[3] = 0;           /* unmask */
    lapic_enable(63);
    uint32_t header = config_read32(msix_capability);
    config_write32(msix_capability, (header & ~(1u << 30)) | (1u << 31)); /* MSI-X enable */
    pci.interrupt_vector = vector;
}

const struct transport *pci_transport_probe(const struct transport_setup *setup)
{
    for (slot = 0; slot < 32; ++slot) {
        if (config_read32(0) == 0x10421af4u) /* vendor 0x1af4, device 0x1040 + 2 (block, §4.1.2) */
            break;
    }
    if (slot == 32) {
        guest_print("no virtio-pci block device on bus 0\n");
        return 0;
    }
    config_write32(0x04, 0x6); /* command: memory space and bus master */

    /* §4.1.4: walk the capability list for the virtio structures and MSI-X. */
    for (uint8_t pointer = config_read8(0x34); pointer; pointer = config_read8((uint8_t)(pointer + 1))) {
        uint8_t id = config_read8(pointer);
        if (id == 0x11) {
            msix_capability = pointer;
            continue;
        }
        if (id != 0x09)
            continue;
        uint8_t type = config_read8((uint8_t)(pointer + 3));
        uint8_t bar_index = config_read8((uint8_t)(pointer + 4));
        uint32_t offset = config_read32((uint8_t)(pointer + 8));
        if (type < 1 || type > 4 || bar_index > 5)
            continue; /* the PCI configuration access capability, or something newer */
        volatile uint8_t *structure = (volatile uint8_t *)(uintptr_t)(bar_address(bar_index) + offset);
        if (type == 1 && !common_config)
            common_config = structure;
        else if (type == 2 && !notify_base) {
            notify_base = structure;
            notify_multiplier = config_read32((uint8_t)(pointer + 16));
        } else if (type == 3 && !isr)
            isr = structure;
        else if (type == 4 && !device_config)
            device_config = structure;
    }
    GUEST_ASSERT(common_config && notify_base && isr && device_config);
    intx_irq = setup->legacy_irq;
    if (intx_irq) {
        pci.interrupt_vector = (uint8_t)((intx_irq < 8 ? CH06_PIC_MASTER_VECTOR : CH06_PIC_SLAVE_VECTOR - 8) + intx_irq);
        pci.describe = "virtio-blk over virtio-pci (INTx)\n";
    } else {
        GUEST_ASSERT(msix_capability);
        enable_msix(setup->msi_vector);
        pci.describe = "virtio-blk over virtio-pci (MSI-X)\n";
    }
    return &pci;
}
