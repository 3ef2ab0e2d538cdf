/* What chapter 04's VMM, its guest and its tests agree on. Plain C. */
#ifndef STEPVMM_CH04_EVENTFD_ABI_H
#define STEPVMM_CH04_EVENTFD_ABI_H

enum ch04_param {
    CH04_PARAM_UART_PORT = 0,
    CH04_PARAM_UART_IRQ = 1,          /* legacy IRQ line of the UART (4, as COM1 on a PC) */
    CH04_PARAM_DEVICE_ADDRESS = 2,    /* the request queue's register window: a port or a GPA */
    CH04_PARAM_DEVICE_IN_MMIO = 3,    /* 1: the window is MMIO, 0: port I/O */
    CH04_PARAM_DEVICE_IRQ = 4,        /* legacy IRQ line of the request queue */
    CH04_PARAM_REQUESTS = 5,          /* requests to complete */
    CH04_PARAM_BATCH = 6,             /* requests per kick */
    CH04_PARAM_ECHO_MILLISECONDS = 7, /* how long to wait for a typed line (interrupt driven) */
};

enum ch04_sync_stage {
    CH04_SYNC_REQUESTS_START = 1,
    CH04_SYNC_REQUESTS_DONE = 2,
};

#define CH04_PIC_MASTER_VECTOR 32u
#define CH04_PIC_SLAVE_VECTOR 40u
#define CH04_TIMER_HZ 100u

#endif
