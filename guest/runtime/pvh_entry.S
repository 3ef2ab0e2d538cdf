/* PVH entry: lets `qemu-system-x86_64 -kernel guest.elf` start a stepvmm guest, so a benchmark
 * can run the identical guest against QEMU's devices.
 *
 * A Xen ELF note of type XEN_ELFNOTE_PHYS32_ENTRY (18) names a 32-bit entry point (Xen's
 * include/public/elfnote.h and docs/misc/pvh.pandoc: entered in 32-bit protected mode, paging
 * off, flat segments, interrupts off, EBX = the physical address of struct hvm_start_info).
 * From there this stub does what the stepvmm VMM does before starting a guest: identity page
 * tables (first 64 GiB, 2 MiB pages, user-accessible like the VMM's), a GDT with the VMM's
 * selectors (0x08 code, 0x10 data, 0x18/0x20 user data/code for SYSRET), EFER.LME and SCE,
 * paging on, then the normal 64-bit entry with a boot info the runtime makes up (pvh.c). */
#define PVH_MAPPED_GIB 64

    .section .note.Xen, "a"
    .balign 4
    .long 4                     /* name size: "Xen\0" */
    .long 4                     /* descriptor size */
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start32

    .section .text.pvh, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    mov %ebx, %esi              /* keep hvm_start_info */
    mov $pvh_stack_top, %esp

    /* PML4[0] -> PDPT; PDPT[i] -> PD i; every PD entry a 2 MiB page. */
    mov $pvh_pdpt, %eax
    or $0x7, %eax               /* present, writable, user */
    mov %eax, pvh_pml4
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $12, %eax
    add $pvh_directories, %eax
    or $0x7, %eax
    mov %eax, pvh_pdpt(,%ecx,8)
    inc %ecx
    cmp $PVH_MAPPED_GIB, %ecx
    jne 1b
    xor %ecx, %ecx              /* entry number over all directories */
2:  mov %ecx, %eax
    shl $21, %eax               /* low 32 bits of entry * 2 MiB */
    or $0x87, %eax              /* present, writable, user, 2 MiB page */
    mov %eax, pvh_directories(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax               /* high bits of entry * 2 MiB */
    mov %eax, pvh_directories+4(,%ecx,8)
    inc %ecx
    cmp $(PVH_MAPPED_GIB * 512), %ecx
    jne 2b

    mov $pvh_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $0xc0000080, %ecx       /* IA32_EFER */
    rdmsr
    or $0x101, %eax             /* LME, SCE (SYSCALL/SYSRET, for the runtime's ring 3) */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax        /* PG, PE */
    mov %eax, %cr0
    lgdt pvh_gdt_pointer
    ljmp $0x08, $pvh_start64

    .code64
pvh_start64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov %esi, %edi              /* hvm_start_info, zero-extended */
    call pvh_boot_info          /* returns the made-up stepvmm boot info */
    mov %rax, %rdi
    jmp _start

    .section .rodata
    .balign 8
pvh_gdt:
    .quad 0
    .quad 0x00209a0000000000    /* 0x08: 64-bit code, ring 0 */
    .quad 0x00cf92000000ffff    /* 0x10: data, ring 0 */
    .quad 0x00cff2000000ffff    /* 0x18: data, ring 3 (SYSRET SS) */
    .quad 0x0020fa0000000000    /* 0x20: 64-bit code, ring 3 (SYSRET CS) */
pvh_gdt_end:
pvh_gdt_pointer:
    .word pvh_gdt_end - pvh_gdt - 1
    .long pvh_gdt

    .section .bss
    .balign 4096
pvh_pml4:
    .skip 4096
pvh_pdpt:
    .skip 4096
pvh_directories:
    .skip 4096 * PVH_MAPPED_GIB
    .balign 16
    .skip 4096
pvh_stack_top:
    .section .note.GNU-stack, "", @progbits
