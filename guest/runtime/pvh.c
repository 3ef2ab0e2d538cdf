/* The runtime's half of a PVH start (pvh_entry.S): without a stepvmm VMM there is no boot
 * info, no ucall port and no VMM to stop the run, so the guest gets defaults, its ucalls become
 * lines on the COM1 UART, and DONE leaves QEMU through its isa-debug-exit device. */
#include <stepvmm_guest.h>

/* Set when the guest was started through the PVH entry. */
extern int guest_started_without_vmm;

/* The guest's own defaults for its parameters (weak: a guest without any keeps zeros). */
__attribute__((weak)) void guest_default_params(uint64_t *params) { (void)params; }

extern char __image_end[];

/* The PIT's channel 2, gated through port 0x61 (as PC firmware calibrates): count 11932 ticks
 * of its 1.193182 MHz clock, 10 ms, and see how far the TSC moved. */
static uint64_t calibrate_tsc_khz(void)
{
    outb(0x61, (uint8_t)((inb(0x61) & ~0x02u) | 0x01u)); /* gate on, speaker off */
    outb(0x43, 0xb0);                                     /* channel 2, lobyte/hibyte, mode 0 */
    outb(0x42, (uint8_t)(11932 & 0xff));
    outb(0x42, (uint8_t)(11932 >> 8));
    uint64_t start = rdtsc();
    while (!(inb(0x61) & 0x20)) /* OUT2 goes high when the count runs out */
        ;
    return (rdtsc() - start) / 10;
}

const struct stepvmm_boot_info *pvh_boot_info(uint32_t start_info);
const struct stepvmm_boot_info *pvh_boot_info(uint32_t start_info)
{
    static struct stepvmm_boot_info info;
    (void)start_info; /* its memory map is not needed: the guests use little RAM */
    guest_started_without_vmm = 1;
    info.magic = STEPVMM_BOOT_INFO_MAGIC;
    info.version = STEPVMM_BOOT_INFO_VERSION;
    info.region_count = 1;
    info.regions[0].guest_physical_address = 0;
    info.regions[0].size = 128ULL << 20;
    info.free_low_ram = ((uint64_t)(uintptr_t)__image_end + 4095) & ~4095ULL;
    info.tsc_khz = calibrate_tsc_khz();
    guest_default_params(info.params);
    return &info;
}
