/* Guests that break the rules on purpose, one way per image (chosen by a HOSTILE_* define).
 * The VMM must stop each with one clear line and a non-zero exit — never crash or hang. */
#include <stepvmm_guest.h>

uint64_t guest_main(const struct stepvmm_boot_info *info)
{
    (void)info;
#if defined(HOSTILE_UCALL_OUTSIDE_RAM)
    outl(STEPVMM_UCALL_PORT, 0xfe000000u); /* a "request" in the device hole, not in RAM */
#elif defined(HOSTILE_UCALL_BAD_COMMAND)
    static struct stepvmm_ucall request = { .command = 99 };
    outl(STEPVMM_UCALL_PORT, (uint32_t)(uintptr_t)&request);
#elif defined(HOSTILE_UNCLAIMED_MMIO)
    *(volatile uint32_t *)0xfe000000u = 0xdeadbeef; /* nothing is mapped there */
#elif defined(HOSTILE_SPIN)
    for (;;)
        __asm__ volatile("" ::: "memory"); /* never exits to the VMM */
#elif defined(HOSTILE_ASSERT)
    GUEST_ASSERT(info->magic == 0);
#else
#error "choose one HOSTILE_* behaviour"
#endif
    return 0;
}
