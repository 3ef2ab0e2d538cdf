/* What chapter 03's VMM, its guest and its tests agree on. Plain C. */
#ifndef STEPVMM_CH03_IO_EXITS_ABI_H
#define STEPVMM_CH03_IO_EXITS_ABI_H

enum ch03_param {
    CH03_PARAM_UART_PORT = 0,          /* COM1: 0x3f8 */
    CH03_PARAM_DISK_PORT = 1,          /* primary ATA channel: 0x1f0 */
    CH03_PARAM_SECTORS = 2,            /* sectors to write, then read back */
    CH03_PARAM_SECTORS_PER_COMMAND = 3,
    CH03_PARAM_ECHO_MILLISECONDS = 4,  /* how long the guest waits for a typed line */
    CH03_PARAM_EXIT_COST_ITERATIONS = 5,
    CH03_PARAM_NULL_PORT = 6,          /* a port that accepts and ignores writes (POST code 0x80) */
    CH03_PARAM_NULL_MMIO_ADDRESS = 7,  /* an MMIO page that accepts and ignores writes */
    CH03_PARAM_UNCLAIMED_PORT = 8,     /* a port no device decodes (COM2, absent) */
    CH03_PARAM_DISK_READ_ONLY = 9,     /* 1: the guest expects its writes to be refused */
};

enum ch03_sync_stage {
    CH03_SYNC_DISK_START = 1,
    CH03_SYNC_DISK_WRITTEN = 2,
    CH03_SYNC_DISK_READ = 3,
    CH03_SYNC_PIO_START = 4,
    CH03_SYNC_PIO_DONE = 5,
    CH03_SYNC_MMIO_DONE = 6,
};

/* The bytes the guest writes: byte `offset` of sector `sector`. The tests recompute it to
 * check the disk file byte for byte. */
#define CH03_PATTERN_BYTE(sector, offset) ((unsigned char)((sector) * 31u + (offset) * 7u + 0x5au))

#endif
