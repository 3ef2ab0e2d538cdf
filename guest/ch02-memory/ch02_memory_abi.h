/* What chapter 02's VMM and its guest agree on: the meaning of stepvmm_boot_info::params and
 * of the sync stages. Plain C, included by both sides. */
#ifndef STEPVMM_CH02_MEMORY_ABI_H
#define STEPVMM_CH02_MEMORY_ABI_H

enum ch02_param {
    CH02_PARAM_ROM_ADDRESS = 0,  /* guest-physical address of the read-only slot */
    CH02_PARAM_ROM_SIZE = 1,
    CH02_PARAM_TOUCH_ADDRESS = 2, /* the range the ring-3 loop touches */
    CH02_PARAM_TOUCH_BYTES = 3,
    CH02_PARAM_DIRTY_COUNT = 4,   /* how many of the following addresses to write */
    CH02_PARAM_DIRTY_FIRST = 8,   /* params[8 ...]: one guest-physical address per page */
};

#define CH02_MAX_DIRTY_PAGES 32u

enum ch02_sync_stage {
    CH02_SYNC_TOUCH_START = 1,   /* ring 3 is about to touch the range for the first time */
    CH02_SYNC_FIRST_TOUCH_DONE = 2,
    CH02_SYNC_WARM_TOUCH_DONE = 3, /* the VMM switches dirty logging on here */
    CH02_SYNC_DIRTY_WRITTEN = 4, /* the guest wrote every dirty target: read the log now */
};

/* What the VMM puts at the start of the ROM and what a guest write must not change. */
#define CH02_ROM_SIGNATURE "stepvmm read-only memory"

#endif
