/* Chapter 03's guest: everything it does is a register access that exits to the VMM.
 *   1. ring 0: set up the UART, greet through it, echo what is typed (polling LSR), and read a
 *      port that no device decodes (the bus answers 0xff);
 *   2. ring 3 (native even where KVM emulates ring 0): IDENTIFY the legacy disk, write a known
 *      pattern over N sectors, flush, read it back and compare;
 *   3. time one PIO exit against one MMIO exit with writes to devices that ignore them.
 * The VMM counts the exits; the guest only reports what it did. */
#include "ata_pio.h"
#include <ch03_io_exits_abi.h>
#include <stepvmm_guest.h>

#define MAX_SECTORS_PER_COMMAND 64u

static uint8_t user_stack[16384] __attribute__((aligned(16)));
static uint8_t sector_buffer[MAX_SECTORS_PER_COMMAND * 512u];

static uint16_t param16(enum ch03_param index) { return (uint16_t)boot_info->params[index]; }

static void echo_typed_line(uint16_t uart)
{
    uint64_t milliseconds = boot_info->params[CH03_PARAM_ECHO_MILLISECONDS];
    if (!milliseconds || !boot_info->tsc_khz)
        return;
    uart_write(uart, "type a line and press Enter: ");
    uint64_t timeout = milliseconds * boot_info->tsc_khz;
    uint64_t echoed = 0;
    for (;;) {
        int c = uart_get_char(uart, timeout);
        if (c < 0) {
            uart_write(uart, echoed ? " (timed out)\n" : "(nothing typed)\n");
            break;
        }
        if (c == '\r' || c == '\n') {
            uart_write(uart, "\n");
            break;
        }
        uart_put_char(uart, (char)c); /* the guest, not the host terminal, echoes */
        ++echoed;
    }
    guest_report("echoed_bytes", echoed);
}

static void fill_pattern(uint32_t first_sector, uint32_t count)
{
    for (uint32_t sector = 0; sector < count; ++sector)
        for (uint32_t offset = 0; offset < 512u; ++offset)
            sector_buffer[sector * 512u + offset] = CH03_PATTERN_BYTE(first_sector + sector, offset);
}

static uint64_t exercise_disk(uint16_t disk)
{
    uint32_t capacity = ata_identify(disk);
    GUEST_ASSERT(capacity > 0);
    guest_report("disk_sectors", capacity);

    uint32_t sectors = (uint32_t)boot_info->params[CH03_PARAM_SECTORS];
    uint32_t per_command = (uint32_t)boot_info->params[CH03_PARAM_SECTORS_PER_COMMAND];
    GUEST_ASSERT(per_command >= 1 && per_command <= MAX_SECTORS_PER_COMMAND);
    GUEST_ASSERT(sectors <= capacity);
    int read_only = boot_info->params[CH03_PARAM_DISK_READ_ONLY] != 0;

    guest_sync(CH03_SYNC_DISK_START);
    uint64_t refused = 0;
    for (uint32_t lba = 0; lba < sectors; lba += per_command) {
        uint32_t count = sectors - lba < per_command ? sectors - lba : per_command;
        fill_pattern(lba, count);
        if (ata_write(disk, lba, count, sector_buffer) != ATA_OK) {
            GUEST_ASSERT(read_only); /* only a read-only disk may refuse */
            ++refused;
        }
    }
    if (!read_only)
        GUEST_ASSERT(ata_flush(disk) == ATA_OK);
    guest_report("write_commands_refused", refused);
    guest_sync(CH03_SYNC_DISK_WRITTEN);

    uint64_t mismatches = 0;
    for (uint32_t lba = 0; lba < sectors; lba += per_command) {
        uint32_t count = sectors - lba < per_command ? sectors - lba : per_command;
        GUEST_ASSERT(ata_read(disk, lba, count, sector_buffer) == ATA_OK);
        for (uint32_t i = 0; i < count * 512u; ++i)
            mismatches += sector_buffer[i] != CH03_PATTERN_BYTE(lba + i / 512u, i % 512u);
    }
    guest_sync(CH03_SYNC_DISK_READ);
    if (!read_only)
        GUEST_ASSERT(mismatches == 0);
    guest_report("bytes_differing_from_pattern", mismatches);
    return refused;
}

static void measure_exit_cost(void)
{
    uint64_t iterations = boot_info->params[CH03_PARAM_EXIT_COST_ITERATIONS];
    uint16_t port = param16(CH03_PARAM_NULL_PORT);
    uint64_t mmio = boot_info->params[CH03_PARAM_NULL_MMIO_ADDRESS];
    guest_sync(CH03_SYNC_PIO_START);
    for (uint64_t i = 0; i < iterations; ++i)
        outb(port, (uint8_t)i);
    guest_sync(CH03_SYNC_PIO_DONE);
    for (uint64_t i = 0; i < iterations; ++i)
        mmio_write32(mmio, (uint32_t)i);
    guest_sync(CH03_SYNC_MMIO_DONE);
}

/* Runs in ring 3 with IOPL 3, so IN/OUT still work. */
static uint64_t user_part(void *unused)
{
    (void)unused;
    uint16_t uart = param16(CH03_PARAM_UART_PORT);
    exercise_disk(param16(CH03_PARAM_DISK_PORT));
    measure_exit_cost();
    uart_write(uart, "ch03 guest: done\n");
    return 0;
}

uint64_t guest_main(const struct stepvmm_boot_info *info)
{
    uint16_t uart = (uint16_t)info->params[CH03_PARAM_UART_PORT];
    uart_init(uart);
    uart_write(uart, "hello from the guest, through a 16550 UART\n");
    echo_typed_line(uart);

    uint16_t unclaimed = (uint16_t)info->params[CH03_PARAM_UNCLAIMED_PORT];
    GUEST_ASSERT(inb(unclaimed) == 0xff); /* nothing decodes it: the bus floats high */
    outb(unclaimed, 0x42);                /* dropped, and counted by the VMM */

    enter_user_mode(user_part, 0, user_stack + sizeof(user_stack));
}
