/* Interrupt entry and return for stepvmm guests, written so that it also works where KVM
 * emulates guest ring 0 (kvm_pvm): that emulator cannot execute IRETQ.
 *
 * An interrupt taken in ring 0 without IST pushes, on the interrupted stack (first aligned
 * down to 16 bytes), RIP, CS, RFLAGS, RSP and SS (SDM Vol. 3A §6.14.2). To return without
 * IRETQ we copy RIP and RFLAGS to just below the interrupted RSP, move RSP there, and finish
 * with POPFQ; RET. Writing below the interrupted RSP is safe only because guests are built
 * with -mno-red-zone. Interrupts only ever arrive in ring 0 here (guests wait with STI; HLT
 * in ring 0), so CS and SS never change. */

    .macro INTERRUPT_STUB vector
    .globl interrupt_stub_\vector
interrupt_stub_\vector:
    push $\vector
    jmp interrupt_common
    .endm

    .text
    .altmacro
    .set vector, 0
    .rept 64
    INTERRUPT_STUB %vector
    .set vector, vector + 1
    .endr

    /* The stubs' addresses, for the IDT set-up in interrupts.c. */
    .macro STUB_ADDRESS vector
    .quad interrupt_stub_\vector
    .endm
    .section .rodata
    .globl interrupt_stubs
    .balign 8
interrupt_stubs:
    .set vector, 0
    .rept 64
    STUB_ADDRESS %vector
    .set vector, vector + 1
    .endr

    .text
interrupt_common:
    /* Stack: vector, RIP, CS, RFLAGS, RSP, SS. Save what a C call may clobber. */
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    mov 72(%rsp), %rdi          /* vector */
    lea 80(%rsp), %rsi          /* the interrupt frame, starting at RIP */
    sub $8, %rsp                /* 16-byte alignment for the call */
    cld
    call interrupt_dispatch
    add $8, %rsp
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    add $8, %rsp                /* drop the vector: RSP now points at the saved RIP */

    /* Return without IRETQ. Scratch space below the frame for three registers. */
    sub $32, %rsp
    mov %rax, 0(%rsp)
    mov %rbx, 8(%rsp)
    mov %rcx, 16(%rsp)
    mov 32+24(%rsp), %rax       /* interrupted RSP */
    mov 32+0(%rsp), %rbx        /* interrupted RIP */
    mov 32+16(%rsp), %rcx       /* interrupted RFLAGS */
    /* Build, just below the interrupted RSP: saved RAX, RBX, RCX, then RFLAGS, RIP. These
     * slots may overlap any part of the frame (RIP, CS, RFLAGS, RSP, SS), all of which we
     * have read above; they never reach the scratch area, which lies below the frame. */
    mov %rbx, -8(%rax)
    mov %rcx, -16(%rax)
    mov 16(%rsp), %rcx
    mov %rcx, -24(%rax)
    mov 8(%rsp), %rcx
    mov %rcx, -32(%rax)
    mov 0(%rsp), %rcx
    mov %rcx, -40(%rax)
    lea -40(%rax), %rsp
    pop %rax
    pop %rbx
    pop %rcx
    popfq                       /* restores IF: a pending interrupt may come right here, */
    ret                         /* and nests safely: RSP points at our RIP slot */

    .section .note.GNU-stack, "", @progbits
