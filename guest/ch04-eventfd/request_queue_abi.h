/* The request-queue device of chapter 04: what its VMM-side model (common/devices/
 * request_queue.hpp) and the guest driver agree on. Plain C.
 *
 * The guest keeps a queue in its own RAM: a header with two free-running 32-bit indices and
 * a ring of requests. It fills requests, advances `submitted`, and writes the new value to
 * the DOORBELL register (the "kick"). The device computes every request between `completed`
 * and `submitted`, advances `completed`, and raises its interrupt once per kick it served.
 * Configuration registers are written once, through ordinary exits; only the doorbell is
 * worth an ioeventfd. (virtio, chapter 06, is this idea done properly.) */
#ifndef STEPVMM_REQUEST_QUEUE_ABI_H
#define STEPVMM_REQUEST_QUEUE_ABI_H

#include <stdint.h>

/* Register offsets in the device's window (32-bit registers, 32-bit accesses). */
enum request_queue_register {
    REQUEST_QUEUE_DOORBELL = 0x00,      /* write: the new `submitted` index */
    REQUEST_QUEUE_ADDRESS_LOW = 0x04,   /* write: guest-physical address of the queue */
    REQUEST_QUEUE_ADDRESS_HIGH = 0x08,
    REQUEST_QUEUE_SIZE = 0x0c,          /* write: ring entries, a power of two <= 1024; 0 disables.
                                           The queue must start at a multiple of 8 (its indices
                                           are accessed atomically) and lie in RAM; the device
                                           then expects submitted = 0, so a guest reconfiguring
                                           zeroes `submitted` first. */
    REQUEST_QUEUE_STATUS = 0x10,        /* read: REQUEST_QUEUE_STATUS_* bits */
    REQUEST_QUEUE_WINDOW_SIZE = 0x14,
};

enum {
    REQUEST_QUEUE_STATUS_READY = 0x1,  /* configured and serving */
    REQUEST_QUEUE_STATUS_BROKEN = 0x2, /* the guest broke the protocol; reset by writing SIZE */
};

#define REQUEST_QUEUE_MAX_SIZE 1024u

struct request_queue_request {
    uint64_t input;  /* written by the guest */
    uint64_t output; /* written by the device: request_queue_answer(input) */
};

struct request_queue_header {
    uint32_t submitted; /* written by the guest: requests [0, submitted) have been offered */
    uint32_t completed; /* written by the device: requests [0, completed) are answered */
    /* followed by `size` struct request_queue_request, request i at index i % size */
};

/* The "work": cheap, deterministic, and easy to check on both sides. */
static inline uint64_t request_queue_answer(uint64_t input)
{
    return (input ^ 0x53544550564d4dULL) * 0x9e3779b97f4a7c15ULL; /* "STEPVMM", golden ratio */
}

#endif
