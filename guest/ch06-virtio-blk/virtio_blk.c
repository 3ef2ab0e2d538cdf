/* Chapter 06's guest: a tiny virtio-blk driver (virtio 1.2 §5.2) over either transport.
 *   1. Finds the device: virtio-mmio at the address the VMM passes (§4.2), or modern
 *      virtio-pci by walking PCI bus 0 and the device's capabilities (§4.1).
 *   2. Initialises it (§3.1.1) and sets up one split virtqueue (§2.7).
 *   3. Ring 0, interrupt driven: GET_ID, writes a pattern, FLUSH, reads it back and checks it
 *      (on a read-only disk: checks that a write fails with IOERR and reads the pattern the
 *      VMM's caller put there).
 *   4. Ring 3, polled, interrupts suppressed: sequential and random 4 KiB reads and writes,
 *      several requests per kick, timed with the TSC. Ring 3 runs natively even where KVM
 *      emulates ring 0 (kvm_pvm), and a polling driver needs no interrupt there.
 * The transport-specific parts are the few functions behind `struct transport`. */
#include "virtio_transport.h"

#include <ch06_virtio_blk_abi.h>
#include <stepvmm_guest.h>

#define QUEUE_SIZE 64u
#define SLOTS (QUEUE_SIZE / 4u) /* each request uses at most 4 descriptors: header, 2 data, status */
#define SECTOR 512u
#define BLOCK 4096u

/* virtio-blk (§5.2.3, §5.2.6) */
#define VIRTIO_BLK_F_RO 5u
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u

struct virtq_desc {
    uint64_t address;
    uint32_t length;
    uint16_t flags;
    uint16_t next;
};
#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY 1u

struct virtq_avail {
    uint16_t flags;
    uint16_t index;
    uint16_t ring[QUEUE_SIZE];
    uint16_t used_event; /* EVENT_IDX: "interrupt me when you use entry number used_event" */
};
struct virtq_used_element {
    uint32_t id;
    uint32_t length;
};
struct virtq_used {
    uint16_t flags;
    uint16_t index;
    struct virtq_used_element ring[QUEUE_SIZE];
    uint16_t avail_event; /* EVENT_IDX: "kick me when you make entry number avail_event available" */
};
struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct virtq_desc descriptors[QUEUE_SIZE] __attribute__((aligned(4096)));
static volatile struct virtq_avail avail __attribute__((aligned(4096)));
static volatile struct virtq_used used __attribute__((aligned(4096)));
static struct virtq_desc indirect_tables[SLOTS][4] __attribute__((aligned(16)));
static struct blk_header headers[SLOTS];
static volatile uint8_t statuses[SLOTS];
static uint8_t blocks[SLOTS][BLOCK] __attribute__((aligned(4096)));
static uint8_t pattern_buffer[64 * SECTOR] __attribute__((aligned(4096)));
static uint8_t user_stack[16384] __attribute__((aligned(16)));

static const struct transport *device;
static const struct stepvmm_boot_info *info;
static uint16_t uart;
static int use_event_index, use_indirect;
static uint16_t next_avail, used_seen;
static uint64_t kicks, kicks_suppressed, requests;
static volatile uint64_t interrupts;

/* A compiler barrier. x86 keeps stores in order with stores and loads with loads (SDM Vol. 3A
 * §9.2.2), so this is all the split ring needs except where noted with mfence below. */
#define barrier() __asm__ volatile("" ::: "memory")

static void on_interrupt(uint8_t vector)
{
    ++interrupts;
    device->acknowledge_interrupt(vector);
}

/* Builds request `slot`'s chain and returns its head: the header, up to two data pieces (a
 * request of more than one sector is split so the device must walk a real chain), the status. */
static uint16_t build_chain(unsigned slot, uint32_t type, uint64_t sector, void *data, uint32_t length, int device_writes_data)
{
    headers[slot] = (struct blk_header) { .type = type, .sector = sector };
    statuses[slot] = 0xff;
    struct virtq_desc parts[4];
    unsigned count = 0;
    parts[count++] = (struct virtq_desc) { (uint64_t)(uintptr_t)&headers[slot], sizeof(struct blk_header), 0, 0 };
    uint16_t data_flags = device_writes_data ? VIRTQ_DESC_F_WRITE : 0;
    if (length > SECTOR) {
        parts[count++] = (struct virtq_desc) { (uint64_t)(uintptr_t)data, SECTOR, data_flags, 0 };
        parts[count++] = (struct virtq_desc) { (uint64_t)(uintptr_t)data + SECTOR, length - SECTOR, data_flags, 0 };
    } else if (length) {
        parts[count++] = (struct virtq_desc) { (uint64_t)(uintptr_t)data, length, data_flags, 0 };
    }
    parts[count++] = (struct virtq_desc) { (uint64_t)(uintptr_t)&statuses[slot], 1, VIRTQ_DESC_F_WRITE, 0 };

    struct virtq_desc *table = use_indirect ? indirect_tables[slot] : &descriptors[slot * 4];
    for (unsigned i = 0; i < count; ++i) {
        table[i] = parts[i];
        if (i + 1 < count) {
            table[i].flags |= VIRTQ_DESC_F_NEXT;
            /* Inside an indirect table `next` indexes the table; in the ring, the whole ring. */
            table[i].next = (uint16_t)(use_indirect ? i + 1 : slot * 4 + i + 1);
        }
    }
    if (use_indirect)
        descriptors[slot * 4] = (struct virtq_desc) { (uint64_t)(uintptr_t)table, count * (uint32_t)sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0 };
    return (uint16_t)(slot * 4);
}

static void publish(uint16_t head)
{
    avail.ring[next_avail % QUEUE_SIZE] = head;
    barrier(); /* the ring entry (and the descriptors) before the index that offers it (§2.7.13) */
    avail.index = ++next_avail;
}

/* Notifies the device unless it said it does not need to know (§2.7.10 / §2.7.7). */
static void kick(uint16_t published_before)
{
    /* The new avail index must be visible before we read the device's suppression state, or
     * both sides could decide the other one will act: a store-load order x86 only keeps with mfence. */
    __asm__ volatile("mfence" ::: "memory");
    int needed;
    if (use_event_index)
        needed = (uint16_t)(next_avail - used.avail_event - 1) < (uint16_t)(next_avail - published_before);
    else
        needed = !(used.flags & VIRTQ_USED_F_NO_NOTIFY);
    if (needed) {
        device->notify(0);
        ++kicks;
    } else {
        ++kicks_suppressed;
    }
}

/* Takes the next used element, checks it is the one we expect. */
static void take_used(uint16_t expected_head)
{
    barrier(); /* the used index was read first; the element behind it only now */
    volatile struct virtq_used_element *element = &used.ring[used_seen % QUEUE_SIZE];
    GUEST_ASSERT(element->id == expected_head);
    ++used_seen;
    ++requests;
}

/* Ring 0: one request, then sleep until its interrupt. */
static uint8_t run_one(uint32_t type, uint64_t sector, void *data, uint32_t length, int device_writes_data)
{
    uint16_t head = build_chain(0, type, sector, data, length, device_writes_data);
    if (use_event_index)
        avail.used_event = used_seen; /* interrupt me for the very next used entry */
    uint16_t before = next_avail;
    uint64_t interrupts_before = interrupts;
    publish(head);
    kick(before);
    /* Wait for the interrupt itself, not just the used entry: the device may finish before we
     * sleep, and an interrupt left pending would arrive later — in ring 3, which cannot take it. */
    while (interrupts == interrupts_before)
        wait_for_interrupt();
    GUEST_ASSERT(used.index != used_seen);
    take_used(head);
    return statuses[0];
}

static void fill_pattern(uint64_t first_sector, uint32_t sectors)
{
    uint64_t seed = info->params[CH06_PARAM_SEED];
    for (uint32_t i = 0; i < sectors * SECTOR; ++i)
        pattern_buffer[i] = ch06_pattern_byte(seed, first_sector * SECTOR + i);
}

static int pattern_matches(uint64_t first_sector, uint32_t sectors)
{
    uint64_t seed = info->params[CH06_PARAM_SEED];
    for (uint32_t i = 0; i < sectors * SECTOR; ++i) {
        if (pattern_buffer[i] != ch06_pattern_byte(seed, first_sector * SECTOR + i)) {
            guest_printf("pattern mismatch at disk byte %lu", first_sector * SECTOR + i);
            return 0;
        }
    }
    return 1;
}

static void pattern_phase(int read_only)
{
    uint64_t total = info->params[CH06_PARAM_SECTORS];
    uint32_t per_request = (uint32_t)info->params[CH06_PARAM_REQUEST_SECTORS];
    GUEST_ASSERT(per_request >= 1 && per_request <= 64);

    char id[21] = { 0 };
    GUEST_ASSERT(run_one(VIRTIO_BLK_T_GET_ID, 0, id, 20, 1) == VIRTIO_BLK_S_OK);
    guest_printf("virtio-blk: id \"%s\"", id);

    guest_sync(CH06_SYNC_PATTERN_START);
    uint64_t start = rdtsc();
    if (read_only) {
        /* §5.2.6.2: a read-only device fails writes with IOERR and writes nothing. */
        fill_pattern(0, 1);
        GUEST_ASSERT(run_one(VIRTIO_BLK_T_OUT, 0, pattern_buffer, SECTOR, 0) == VIRTIO_BLK_S_IOERR);
        guest_report("readonly_write_refused", 1);
    } else {
        for (uint64_t done = 0; done < total; done += per_request) {
            uint32_t count = total - done < per_request ? (uint32_t)(total - done) : per_request;
            uint64_t sector = CH06_PATTERN_FIRST_SECTOR + done;
            fill_pattern(sector, count);
            GUEST_ASSERT(run_one(VIRTIO_BLK_T_OUT, sector, pattern_buffer, count * SECTOR, 0) == VIRTIO_BLK_S_OK);
        }
    }
    GUEST_ASSERT(run_one(VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0) == VIRTIO_BLK_S_OK);
    uint64_t mismatches = 0;
    for (uint64_t done = 0; done < total; done += per_request) {
        uint32_t count = total - done < per_request ? (uint32_t)(total - done) : per_request;
        uint64_t sector = CH06_PATTERN_FIRST_SECTOR + done;
        memset(pattern_buffer, 0, count * SECTOR);
        GUEST_ASSERT(run_one(VIRTIO_BLK_T_IN, sector, pattern_buffer, count * SECTOR, 1) == VIRTIO_BLK_S_OK);
        mismatches += !pattern_matches(sector, count);
    }
    guest_report("pattern_tsc", rdtsc() - start);
    guest_sync(CH06_SYNC_PATTERN_DONE);
    guest_report("pattern_sectors", total);
    guest_report("pattern_mismatches", mismatches);
    guest_report("pattern_interrupts", interrupts);
    GUEST_ASSERT(mismatches == 0);
}

/* Ring 3, polled: `count` 4 KiB requests, `depth` per kick. */
static uint64_t measured_phase(uint32_t type, int random, uint64_t first_block, uint64_t blocks_available, uint64_t count, uint32_t depth)
{
    uint64_t state = 0x2545f4914f6cdd1dULL, position = 0, start = rdtsc();
    for (uint64_t done = 0; done < count;) {
        uint32_t batch = count - done < depth ? (uint32_t)(count - done) : depth;
        uint16_t before = next_avail;
        for (uint32_t slot = 0; slot < batch; ++slot) {
            uint64_t block;
            if (random) {
                state ^= state << 13, state ^= state >> 7, state ^= state << 17; /* xorshift64 */
                block = state % blocks_available;
            } else {
                block = position++ % blocks_available;
            }
            publish(build_chain(slot, type, (first_block + block) * (BLOCK / SECTOR), blocks[slot], BLOCK, type == VIRTIO_BLK_T_IN));
        }
        kick(before);
        while (used.index != next_avail) /* polling: no interrupt, no exit */
            __asm__ volatile("pause");
        for (uint32_t slot = 0; slot < batch; ++slot) {
            uint16_t head = (uint16_t)used.ring[used_seen % QUEUE_SIZE].id;
            take_used(head);
            GUEST_ASSERT(head % 4 == 0 && head / 4 < batch && statuses[head / 4] == VIRTIO_BLK_S_OK);
        }
        done += batch;
    }
    return rdtsc() - start;
}

static uint64_t user_part(void *unused)
{
    (void)unused;
    uint64_t count = info->params[CH06_PARAM_BENCH_REQUESTS];
    uint32_t depth = (uint32_t)info->params[CH06_PARAM_QUEUE_DEPTH];
    if (depth < 1 || depth > SLOTS)
        depth = SLOTS;
    uint64_t capacity = device->capacity();
    uint64_t first_block = (CH06_PATTERN_FIRST_SECTOR + info->params[CH06_PARAM_SECTORS] + 7) / 8 + 1;
    uint64_t blocks_available = capacity / 8 > first_block ? capacity / 8 - first_block : 0;
    if (!count || blocks_available < depth)
        return 0;
    int read_only = (int)info->params[CH06_PARAM_READONLY];
    uint64_t kicks_before = kicks, suppressed_before = kicks_suppressed, interrupts_before = interrupts;
    guest_sync(CH06_SYNC_BENCH_START);
    if (!read_only)
        guest_report("seq_write_tsc", measured_phase(VIRTIO_BLK_T_OUT, 0, first_block, blocks_available, count, depth));
    guest_report("seq_read_tsc", measured_phase(VIRTIO_BLK_T_IN, 0, first_block, blocks_available, count, depth));
    guest_report("rand_read_tsc", measured_phase(VIRTIO_BLK_T_IN, 1, first_block, blocks_available, count, depth));
    if (!read_only)
        guest_report("rand_write_tsc", measured_phase(VIRTIO_BLK_T_OUT, 1, first_block, blocks_available, count, depth));
    guest_sync(CH06_SYNC_BENCH_DONE);
    guest_report("bench_requests", count);
    guest_report("bench_queue_depth", depth);
    guest_report("bench_kicks", kicks - kicks_before);
    guest_report("bench_kicks_suppressed", kicks_suppressed - suppressed_before);
    guest_report("bench_interrupts", interrupts - interrupts_before);
    guest_report("requests", requests);
    guest_report("kicks", kicks);
    return 0;
}

uint64_t guest_main(const struct stepvmm_boot_info *boot)
{
    info = boot;
    uart = (uint16_t)info->params[CH06_PARAM_UART_PORT];
    uart_init(uart);
    interrupts_init();
    pic_init(CH06_PIC_MASTER_VECTOR, CH06_PIC_SLAVE_VECTOR);

    struct transport_setup setup = {
        .mmio_base = info->params[CH06_PARAM_MMIO_BASE],
        .legacy_irq = (uint8_t)(info->params[CH06_PARAM_TRANSPORT] == CH06_TRANSPORT_MMIO ? info->params[CH06_PARAM_MMIO_IRQ]
                                                                                          : info->params[CH06_PARAM_PCI_INTX_IRQ]),
        .msi_vector = CH06_MSI_VECTOR,
    };
    device = info->params[CH06_PARAM_TRANSPORT] == CH06_TRANSPORT_PCI ? pci_transport_probe(&setup) : mmio_transport_probe(&setup);
    GUEST_ASSERT(device);
    uart_write(uart, device->describe);

    /* §3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK and check it, queues, DRIVER_OK. */
    device->set_status(0);
    device->set_status(VIRTIO_STATUS_ACKNOWLEDGE);
    device->set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint32_t offered_low = device->device_features(0), offered_high = device->device_features(1);
    GUEST_ASSERT(offered_high & 1u); /* VIRTIO_F_VERSION_1 (bit 32): this driver is modern only */
    uint32_t wanted_low = offered_low & (1u << VIRTIO_BLK_F_RO);
    use_event_index = info->params[CH06_PARAM_EVENT_IDX] && (offered_low & (1u << 29));
    use_indirect = info->params[CH06_PARAM_INDIRECT] && (offered_low & (1u << 28));
    if (use_event_index)
        wanted_low |= 1u << 29;
    if (use_indirect)
        wanted_low |= 1u << 28;
    device->set_driver_features(0, wanted_low);
    device->set_driver_features(1, 1u);
    device->set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    GUEST_ASSERT(device->status() & VIRTIO_STATUS_FEATURES_OK);
    GUEST_ASSERT(device->queue_max_size(0) >= QUEUE_SIZE);
    device->setup_queue(0, QUEUE_SIZE, (uint64_t)(uintptr_t)descriptors, (uint64_t)(uintptr_t)&avail, (uint64_t)(uintptr_t)&used);
    set_interrupt_handler(device->interrupt_vector, on_interrupt);
    device->set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    int read_only = (offered_low >> VIRTIO_BLK_F_RO) & 1u;
    GUEST_ASSERT(read_only == (int)info->params[CH06_PARAM_READONLY]);
    guest_printf("virtio-blk: %lu sectors, features event_idx=%d indirect=%d read-only=%d", device->capacity(), use_event_index,
        use_indirect, read_only);
    guest_report("capacity_sectors", device->capacity());
    guest_report("tsc_khz", info->tsc_khz); /* what the TSC figures below are counted in */
    guest_report("event_idx", (uint64_t)use_event_index);
    guest_report("indirect", (uint64_t)use_indirect);

    pattern_phase(read_only);
    uart_write(uart, "virtio-blk: pattern written, flushed and read back\n");

    /* Ring 3 cannot take an interrupt here (returning needs IRETQ, which kvm_pvm lacks), so
     * the device is told not to send any and its line is masked as well. */
    if (use_event_index)
        avail.used_event = (uint16_t)(used_seen - 1);
    else
        avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    device->mask_interrupts();
    enter_user_mode(user_part, 0, user_stack + sizeof(user_stack));
}

/* Started by QEMU through the PVH entry (runtime/pvh.c), there is no VMM to pass parameters:
 * these are the chapter's defaults, virtio-pci with MSI-X. */
void guest_default_params(uint64_t *params);
void guest_default_params(uint64_t *params)
{
    params[CH06_PARAM_UART_PORT] = 0x3f8;
    params[CH06_PARAM_TRANSPORT] = CH06_TRANSPORT_PCI;
    params[CH06_PARAM_SECTORS] = 256;
    params[CH06_PARAM_REQUEST_SECTORS] = 8;
    params[CH06_PARAM_SEED] = 1;
    params[CH06_PARAM_EVENT_IDX] = 1;
    params[CH06_PARAM_INDIRECT] = 1;
    params[CH06_PARAM_BENCH_REQUESTS] = 4000;
    params[CH06_PARAM_QUEUE_DEPTH] = 16;
}
