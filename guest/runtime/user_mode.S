/* void enter_user_mode(uint64_t (*function)(void *), void *argument, void *stack_top)
 *
 * Drops from ring 0 to ring 3 with SYSRET. Not IRETQ: KVM backends that emulate guest
 * ring 0 (kvm_pvm) cannot execute IRETQ, and SYSRET is also the cheaper instruction.
 * SYSRET (SDM Vol. 2B) loads CS = STAR[63:48] + 16 | 3, SS = STAR[63:48] + 8 | 3,
 * RIP = RCX, RFLAGS = R11; the stack pointer is ours to set. EFER.SCE is set by the VMM. */
    .text
    .globl enter_user_mode
enter_user_mode:
    mov %rdi, %r8               /* function */
    mov %rsi, %r9               /* argument */
    mov %rdx, %r10              /* stack top, 16-byte aligned */

    mov $0xc0000081, %ecx       /* IA32_STAR */
    xor %eax, %eax
    mov $0x00100008, %edx       /* STAR[63:48] = 0x10 (SYSRET base), STAR[47:32] = 0x08 */
    wrmsr

    /* If the ring-3 function returns, it returns into user_mode_returned. */
    lea user_mode_returned(%rip), %rax
    sub $8, %r10
    mov %rax, (%r10)
    mov %r10, %rsp
    mov %r9, %rdi
    mov %r8, %rcx
    mov $0x3202, %r11           /* IOPL = 3 (ring 3 may use port I/O for ucalls), IF, bit 1 */
    sysretq

user_mode_returned:
    mov %rax, %rdi
    call guest_done             /* never returns */
    .section .note.GNU-stack, "", @progbits
