/* The two virtio transports as the guest driver sees them: the same operations, done with
 * virtio-mmio registers (§4.2.2) or virtio-pci structures found through PCI capabilities
 * (§4.1.4). The driver above them (virtio_blk.c) does not know which one it has. */
#ifndef CH06_VIRTIO_TRANSPORT_H
#define CH06_VIRTIO_TRANSPORT_H

#include <stdint.h>

#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u

struct transport {
    const char *describe; /* a line for the console */
    uint8_t interrupt_vector;
    uint8_t (*status)(void);
    void (*set_status)(uint8_t status);
    uint32_t (*device_features)(uint32_t select);
    void (*set_driver_features)(uint32_t select, uint32_t features);
    uint16_t (*queue_max_size)(uint16_t queue);
    void (*setup_queue)(uint16_t queue, uint16_t size, uint64_t descriptors, uint64_t avail, uint64_t used);
    void (*notify)(uint16_t queue);
    uint64_t (*capacity)(void); /* virtio-blk configuration: capacity in sectors (§5.2.4) */
    /* Called from the interrupt handler: read-and-clear the cause, end the interrupt. */
    void (*acknowledge_interrupt)(uint8_t vector);
    /* No more interrupts from this device (before running in ring 3). */
    void (*mask_interrupts)(void);
};

struct transport_setup {
    uint64_t mmio_base; /* virtio-mmio: where the registers are */
    uint8_t legacy_irq; /* virtio-mmio: its PIC line; virtio-pci: INTx line, or 0 for MSI-X */
    uint8_t msi_vector; /* virtio-pci with MSI-X: the vector for the request queue */
};

const struct transport *mmio_transport_probe(const struct transport_setup *setup);
const struct transport *pci_transport_probe(const struct transport_setup *setup);

#endif
