/* Chapter 02's guest. It starts in 64-bit ring 0 (the VMM built the GDT and the identity
 * page tables), then:
 *   1. prints the memory map the VMM handed it;
 *   2. reads the ROM, tries to write it (KVM turns that into an MMIO exit) and checks that
 *      the ROM did not change;
 *   3. drops to ring 3 and touches a range of RAM twice: the first pass faults every page in
 *      (host page allocation + second-stage mapping), the second measures warm throughput;
 *   4. with dirty logging now switched on by the VMM, writes one word into each page the VMM
 *      named, and syncs so the VMM can read KVM's dirty log and compare.
 * Ring 3 because on KVM backends that emulate guest ring 0 only ring 3 runs natively; on
 * hardware KVM both run natively and the figures stay comparable (DESIGN.md). The touch
 * comes first so that nothing has faulted the range in before it is timed. */
#include <ch02_memory_abi.h>
#include <stepvmm_guest.h>

static const uint64_t page_size = 4096;

static uint8_t user_stack[16384] __attribute__((aligned(16)));

static void print_memory_map(const struct stepvmm_boot_info *info)
{
    for (uint32_t i = 0; i < info->region_count; ++i) {
        const struct stepvmm_ram_region *region = &info->regions[i];
        guest_printf("RAM [%#lx, %#lx) %lu MiB", region->guest_physical_address,
            region->guest_physical_address + region->size, region->size >> 20);
    }
}

static void check_rom(const struct stepvmm_boot_info *info)
{
    volatile uint8_t *rom = (volatile uint8_t *)(uintptr_t)info->params[CH02_PARAM_ROM_ADDRESS];
    const char *signature = CH02_ROM_SIGNATURE;
    char seen[sizeof(CH02_ROM_SIGNATURE)];
    for (size_t i = 0; i < sizeof(seen); ++i)
        seen[i] = (char)rom[i];
    seen[sizeof(seen) - 1] = '\0';
    for (size_t i = 0; signature[i]; ++i)
        GUEST_ASSERT(seen[i] == signature[i]);
    guest_printf("ROM at %#lx reads \"%s\"", info->params[CH02_PARAM_ROM_ADDRESS], seen);

    rom[0] = 'X'; /* no writable slot here: KVM exits to the VMM with KVM_EXIT_MMIO */
    GUEST_ASSERT(rom[0] == (uint8_t)signature[0]);
    guest_print("ROM write was refused; the ROM is unchanged");
}

static void touch_memory(void)
{
    volatile uint64_t *start = (volatile uint64_t *)(uintptr_t)boot_info->params[CH02_PARAM_TOUCH_ADDRESS];
    uint64_t bytes = boot_info->params[CH02_PARAM_TOUCH_BYTES];
    uint64_t words = bytes / sizeof(uint64_t);
    uint64_t words_per_page = page_size / sizeof(uint64_t);

    guest_sync(CH02_SYNC_TOUCH_START);
    /* The VMM times the passes between the sync exits. */
    for (uint64_t word = 0; word < words; word += words_per_page)
        start[word] = word; /* one store per page: the cost is the fault, not the store */
    guest_sync(CH02_SYNC_FIRST_TOUCH_DONE);

    for (uint64_t word = 0; word < words; ++word)
        start[word] = word; /* every word: memory bandwidth through the guest's TLB */
    guest_sync(CH02_SYNC_WARM_TOUCH_DONE);

    for (uint64_t word = 0; word < words; word += words_per_page + 1)
        GUEST_ASSERT(start[word] == word);
    if (bytes)
        guest_print("ring 3 touched every page and read it back");
}

static void write_dirty_targets(void)
{
    uint64_t count = boot_info->params[CH02_PARAM_DIRTY_COUNT];
    GUEST_ASSERT(count <= CH02_MAX_DIRTY_PAGES);
    for (uint64_t i = 0; i < count; ++i) {
        volatile uint64_t *page = (volatile uint64_t *)(uintptr_t)boot_info->params[CH02_PARAM_DIRTY_FIRST + i];
        *page = (uint64_t)(uintptr_t)page; /* each page holds its own address */
    }
    guest_printf("wrote %lu pages", count);
    guest_sync(CH02_SYNC_DIRTY_WRITTEN);
    for (uint64_t i = 0; i < count; ++i) {
        volatile uint64_t *page = (volatile uint64_t *)(uintptr_t)boot_info->params[CH02_PARAM_DIRTY_FIRST + i];
        GUEST_ASSERT(*page == (uint64_t)(uintptr_t)page);
    }
}

/* Runs in ring 3; its return value becomes the DONE status. */
static uint64_t user_part(void *unused)
{
    (void)unused;
    touch_memory();
    write_dirty_targets();
    return 0;
}

uint64_t guest_main(const struct stepvmm_boot_info *info)
{
    guest_print("hello from 64-bit long mode, ring 0");
    print_memory_map(info);
    check_rom(info);
    enter_user_mode(user_part, 0, user_stack + sizeof(user_stack));
}
