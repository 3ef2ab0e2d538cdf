/* A polled ATA PIO driver for the primary channel: 28-bit LBA, one word per IN/OUT. This is
 * deliberately the naive driver: every register access is a VM exit. */
#ifndef STEPVMM_GUEST_ATA_PIO_H
#define STEPVMM_GUEST_ATA_PIO_H

#include <stdint.h>

enum ata_result {
    ATA_OK = 0,
    ATA_ERROR = 1, /* the device set ERR; see ata_last_error() */
};

/* IDENTIFY DEVICE: returns the number of addressable sectors, or 0 on error. */
uint32_t ata_identify(uint16_t base);
enum ata_result ata_read(uint16_t base, uint32_t lba, uint32_t count, uint8_t *buffer);
enum ata_result ata_write(uint16_t base, uint32_t lba, uint32_t count, const uint8_t *buffer);
enum ata_result ata_flush(uint16_t base);
uint8_t ata_last_error(uint16_t base);

#endif
