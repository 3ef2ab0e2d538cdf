/* What chapter 06's VMM, its guest and its tests agree on. Plain C. */
#ifndef STEPVMM_CH06_VIRTIO_BLK_ABI_H
#define STEPVMM_CH06_VIRTIO_BLK_ABI_H

enum ch06_param {
    CH06_PARAM_UART_PORT = 0,
    CH06_PARAM_TRANSPORT = 1,       /* CH06_TRANSPORT_MMIO or CH06_TRANSPORT_PCI */
    CH06_PARAM_MMIO_BASE = 2,       /* virtio-mmio register window (mmio transport) */
    CH06_PARAM_MMIO_IRQ = 3,        /* its interrupt: a legacy IRQ line of the PICs */
    CH06_PARAM_PCI_INTX_IRQ = 4,    /* 0: use MSI-X; else use INTx on this legacy IRQ line */
    CH06_PARAM_SECTORS = 5,         /* sectors the pattern phase writes, flushes and reads back */
    CH06_PARAM_REQUEST_SECTORS = 6, /* sectors per request in the pattern phase (<= 64) */
    CH06_PARAM_SEED = 7,            /* what the pattern is derived from */
    CH06_PARAM_EVENT_IDX = 8,       /* 1: negotiate VIRTIO_F_EVENT_IDX when offered */
    CH06_PARAM_INDIRECT = 9,        /* 1: negotiate VIRTIO_F_INDIRECT_DESC and use it */
    CH06_PARAM_READONLY = 10,       /* 1: the VMM made the disk read-only; expect RO and IOERR */
    CH06_PARAM_BENCH_REQUESTS = 11, /* 4 KiB requests per measured phase (0: skip them) */
    CH06_PARAM_QUEUE_DEPTH = 12,    /* requests in flight per kick in the measured phases */
};

enum ch06_transport {
    CH06_TRANSPORT_MMIO = 0,
    CH06_TRANSPORT_PCI = 1,
};

enum ch06_sync_stage {
    CH06_SYNC_PATTERN_START = 1, /* the driver is up; the pattern phase begins */
    CH06_SYNC_PATTERN_DONE = 2,
    CH06_SYNC_BENCH_START = 3,
    CH06_SYNC_BENCH_DONE = 4,
};

/* Where the pattern phase starts on the disk, in sectors; the measured phases use the 4 KiB
 * blocks after the pattern. The pattern byte at disk offset `o` is ch06_pattern_byte(seed, o). */
#define CH06_PATTERN_FIRST_SECTOR 8u
#define CH06_MSI_VECTOR 48u /* vector MSI-X entry 0 (the request queue) is programmed with */
#define CH06_PIC_MASTER_VECTOR 32u
#define CH06_PIC_SLAVE_VECTOR 40u

static inline unsigned char ch06_pattern_byte(unsigned long long seed, unsigned long long offset)
{
    unsigned long long mixed = (offset + 1) * 0x9e3779b97f4a7c15ULL ^ seed;
    mixed ^= mixed >> 29;
    return (unsigned char)(mixed ^ (mixed >> 11));
}

#endif
