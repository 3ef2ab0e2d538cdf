/* The contract between stepvmm's VMMs and its freestanding guests, in plain C so that both the
 * C++ VMM and the C guest runtime include the same definitions.
 *
 * Boot: the VMM loads an ELF64 guest, writes a struct stepvmm_boot_info into guest RAM and
 * starts the vCPU in 64-bit ring 0 at the ELF entry with RDI = the boot info's address
 * (the System V calling convention's first argument).
 *
 * Ucall: to talk to the VMM, the guest fills a struct stepvmm_ucall in its own RAM and writes
 * its guest-physical address (below 4 GiB) with a 32-bit OUT to STEPVMM_UCALL_PORT. The VMM
 * reads the struct through its checked guest-memory translation, acts, and resumes the guest.
 * This is the idea of the Linux KVM selftests' "ucall" (tools/testing/selftests/kvm/lib/ucall_common.c).
 */
#ifndef STEPVMM_ABI_GUEST_ABI_H
#define STEPVMM_ABI_GUEST_ABI_H

#include <stdint.h>

#define STEPVMM_BOOT_INFO_MAGIC 0x4f464e49544f4f42ULL /* "BOOTINFO" little-endian */
#define STEPVMM_BOOT_INFO_VERSION 1u
#define STEPVMM_MAX_RAM_REGIONS 4u
#define STEPVMM_MAX_PARAMS 48u

/* The KVM selftests use the same port for their PIO ucall; nothing on a PC decodes it. */
#define STEPVMM_UCALL_PORT 0x1000u
#define STEPVMM_UCALL_TEXT_SIZE 200u

struct stepvmm_ram_region {
    uint64_t guest_physical_address;
    uint64_t size;
};

struct stepvmm_boot_info {
    uint64_t magic;
    uint32_t version;
    uint32_t region_count;
    struct stepvmm_ram_region regions[STEPVMM_MAX_RAM_REGIONS];
    uint64_t free_low_ram; /* first byte of low RAM the guest may use freely (after its image) */
    uint64_t tsc_khz;      /* TSC frequency the VMM measured, 0 if unknown */
    uint64_t params[STEPVMM_MAX_PARAMS]; /* meaning defined by each chapter's guest header */
};

enum stepvmm_ucall_command {
    STEPVMM_UCALL_PRINT = 1,  /* text: a line for the console */
    STEPVMM_UCALL_SYNC = 2,   /* args[0]: stage number; the VMM inspects the VM, then resumes */
    STEPVMM_UCALL_REPORT = 3, /* text: a metric name; args[0]: its value */
    STEPVMM_UCALL_FAIL = 4,   /* text: "file:line: expression"; the run ends as failed */
    STEPVMM_UCALL_DONE = 5,   /* args[0]: exit status of the guest (0 = success) */
};

struct stepvmm_ucall {
    uint64_t command;
    uint64_t args[4];
    char text[STEPVMM_UCALL_TEXT_SIZE];
};

#endif
