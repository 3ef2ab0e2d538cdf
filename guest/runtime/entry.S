/* Entry of every 64-bit stepvmm guest. The VMM starts us in long mode, ring 0, paging on,
 * interrupts off, with RDI = the boot info address (see abi/guest_abi.h). */
    .section .text.entry, "ax"
    .globl _start
_start:
    lea boot_stack_top(%rip), %rsp
    call guest_start        /* C: keeps the boot info, calls guest_main, reports DONE */
1:  hlt
    jmp 1b

    .section .bss
    .balign 16
boot_stack:
    .skip 16384
boot_stack_top:
    .section .note.GNU-stack, "", @progbits
