/* The guest side of chapter 03's legacy disk: the ATA task-file protocol (ATA/ATAPI-6 §7,
 * READ SECTORS / WRITE SECTORS / FLUSH CACHE / IDENTIFY DEVICE), polled.
 *
 * Exits per command, as the VMM counts them: 6 task-file writes (count, LBA x3, device,
 * command), then per sector 1 status read + 256 data-word accesses, then 1 final status read.
 * IDENTIFY writes only device and command: 2 + 1 + 256 + 1. */
#include "ata_pio.h"
#include <stepvmm_guest.h>

enum {
    ATA_DATA = 0,
    ATA_ERROR_REGISTER = 1,
    ATA_SECTOR_COUNT = 2,
    ATA_LBA_LOW = 3,
    ATA_LBA_MID = 4,
    ATA_LBA_HIGH = 5,
    ATA_DEVICE = 6,
    ATA_STATUS_COMMAND = 7,
};

enum {
    STATUS_ERR = 0x01,
    STATUS_DRQ = 0x08,
    STATUS_DF = 0x20,
    STATUS_BSY = 0x80,
    DEVICE_LBA = 0x40,
    COMMAND_READ_SECTORS = 0x20,
    COMMAND_WRITE_SECTORS = 0x30,
    COMMAND_FLUSH_CACHE = 0xe7,
    COMMAND_IDENTIFY = 0xec,
};

#define WORDS_PER_SECTOR 256u

/* Waits until the device is not busy; returns the status (one exit per poll). */
static uint8_t wait_not_busy(uint16_t base)
{
    uint8_t status;
    do
        status = inb((uint16_t)(base + ATA_STATUS_COMMAND));
    while (status & STATUS_BSY);
    return status;
}

static void issue(uint16_t base, uint32_t lba, uint32_t count, uint8_t command)
{
    outb((uint16_t)(base + ATA_SECTOR_COUNT), (uint8_t)count); /* 256 is written as 0 */
    outb((uint16_t)(base + ATA_LBA_LOW), (uint8_t)lba);
    outb((uint16_t)(base + ATA_LBA_MID), (uint8_t)(lba >> 8));
    outb((uint16_t)(base + ATA_LBA_HIGH), (uint8_t)(lba >> 16));
    outb((uint16_t)(base + ATA_DEVICE), (uint8_t)(DEVICE_LBA | ((lba >> 24) & 0x0f)));
    outb((uint16_t)(base + ATA_STATUS_COMMAND), command);
}

uint8_t ata_last_error(uint16_t base) { return inb((uint16_t)(base + ATA_ERROR_REGISTER)); }

uint32_t ata_identify(uint16_t base)
{
    uint16_t words[WORDS_PER_SECTOR];
    outb((uint16_t)(base + ATA_DEVICE), DEVICE_LBA);
    outb((uint16_t)(base + ATA_STATUS_COMMAND), COMMAND_IDENTIFY);
    uint8_t status = wait_not_busy(base);
    if ((status & STATUS_ERR) || !(status & STATUS_DRQ))
        return 0;
    for (unsigned i = 0; i < WORDS_PER_SECTOR; ++i)
        words[i] = inw((uint16_t)(base + ATA_DATA));
    wait_not_busy(base);
    return (uint32_t)words[60] | ((uint32_t)words[61] << 16);
}

enum ata_result ata_read(uint16_t base, uint32_t lba, uint32_t count, uint8_t *buffer)
{
    issue(base, lba, count, COMMAND_READ_SECTORS);
    for (uint32_t sector = 0; sector < count; ++sector) {
        uint8_t status = wait_not_busy(base);
        if ((status & (STATUS_ERR | STATUS_DF)) || !(status & STATUS_DRQ))
            return ATA_ERROR;
        uint16_t *words = (uint16_t *)(buffer + sector * 512u);
        for (unsigned i = 0; i < WORDS_PER_SECTOR; ++i)
            words[i] = inw((uint16_t)(base + ATA_DATA));
    }
    return (wait_not_busy(base) & (STATUS_ERR | STATUS_DF)) ? ATA_ERROR : ATA_OK;
}

enum ata_result ata_write(uint16_t base, uint32_t lba, uint32_t count, const uint8_t *buffer)
{
    issue(base, lba, count, COMMAND_WRITE_SECTORS);
    for (uint32_t sector = 0; sector < count; ++sector) {
        uint8_t status = wait_not_busy(base);
        if ((status & (STATUS_ERR | STATUS_DF)) || !(status & STATUS_DRQ))
            return ATA_ERROR;
        const uint16_t *words = (const uint16_t *)(buffer + sector * 512u);
        for (unsigned i = 0; i < WORDS_PER_SECTOR; ++i)
            outw((uint16_t)(base + ATA_DATA), words[i]);
    }
    return (wait_not_busy(base) & (STATUS_ERR | STATUS_DF)) ? ATA_ERROR : ATA_OK;
}

enum ata_result ata_flush(uint16_t base)
{
    outb((uint16_t)(base + ATA_DEVICE), DEVICE_LBA);
    outb((uint16_t)(base + ATA_STATUS_COMMAND), COMMAND_FLUSH_CACHE);
    return (wait_not_busy(base) & (STATUS_ERR | STATUS_DF)) ? ATA_ERROR : ATA_OK;
}
