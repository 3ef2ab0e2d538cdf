/* Chapter 01's guest: 16-bit real mode, no stack, no BIOS. It writes a greeting one byte at
 * a time to I/O port 0x3f8 (where a PC's first serial port lives; chapter 03 puts a real
 * UART there) and halts. Every OUT is one KVM_EXIT_IO; the HLT is one KVM_EXIT_HLT. */
    .code16
    .text
    .globl start
start:
    mov $message, %si
    mov $0x3f8, %dx
next_byte:
    movb (%si), %al
    test %al, %al
    jz done
    outb %al, %dx           /* exits to the VMM: KVM_EXIT_IO, direction out, size 1 */
    inc %si
    jmp next_byte
done:
    hlt                     /* exits to the VMM: KVM_EXIT_HLT */
    jmp done

message:
    .asciz "Hello from real mode!\n"
