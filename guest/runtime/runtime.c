/* Ucalls, start-up and the few libc functions the compiler may call on its own. */
#include <stepvmm_guest.h>

const struct stepvmm_boot_info *boot_info;

/* One request buffer: the guest is single-threaded, and ring 3 can reach it because the
 * VMM's identity map grants user access. */
static struct stepvmm_ucall ucall_buffer;

/* Set by the PVH entry (pvh.c) when there is no stepvmm VMM, only a generic one like QEMU. */
int guest_started_without_vmm;

/* Without a stepvmm VMM a ucall becomes a line on COM1, "ucall <command> <argument> <text>",
 * and DONE/FAIL leave through QEMU's isa-debug-exit device on port 0xf4 (its exit status is
 * value * 2 + 1: 1 for success, 3 for failure). */
static void ucall_without_vmm(uint64_t command, uint64_t argument, const char *text)
{
    static const char *const names[] = { "", "print", "sync", "report", "fail", "done" };
    char line[STEPVMM_UCALL_TEXT_SIZE + 64];
    guest_format(line, sizeof(line), "ucall %s %lu %s\n", command < 6 ? names[command] : "?", argument, text ? text : "");
    uart_write(0x3f8, line);
    if (command == STEPVMM_UCALL_DONE || command == STEPVMM_UCALL_FAIL) {
        outb(0xf4, command == STEPVMM_UCALL_DONE && argument == 0 ? 0 : 1);
        for (;;)
            __asm__ volatile("cli; hlt");
    }
}

static void ucall(uint64_t command, uint64_t argument, const char *text)
{
    if (guest_started_without_vmm) {
        ucall_without_vmm(command, argument, text);
        return;
    }
    ucall_buffer.command = command;
    ucall_buffer.args[0] = argument;
    size_t length = 0;
    if (text) {
        while (text[length] && length + 1 < sizeof(ucall_buffer.text)) {
            ucall_buffer.text[length] = text[length];
            ++length;
        }
    }
    ucall_buffer.text[length] = '\0';
    /* The guest image lives below 4 GiB, so its address fits the 32-bit OUT. */
    outl(STEPVMM_UCALL_PORT, (uint32_t)(uintptr_t)&ucall_buffer);
}

void guest_print(const char *text) { ucall(STEPVMM_UCALL_PRINT, 0, text); }

void guest_printf(const char *format, ...)
{
    char line[STEPVMM_UCALL_TEXT_SIZE];
    va_list args;
    va_start(args, format);
    guest_vformat(line, sizeof(line), format, args);
    va_end(args);
    guest_print(line);
}

void guest_sync(uint64_t stage) { ucall(STEPVMM_UCALL_SYNC, stage, 0); }

void guest_report(const char *name, uint64_t value) { ucall(STEPVMM_UCALL_REPORT, value, name); }

void guest_done(uint64_t status)
{
    for (;;)
        ucall(STEPVMM_UCALL_DONE, status, 0); /* the VMM stops here; loop if it resumes us */
}

void guest_fail(const char *file, int line, const char *expression)
{
    char text[STEPVMM_UCALL_TEXT_SIZE];
    guest_format(text, sizeof(text), "%s:%d: %s", file, line, expression);
    for (;;)
        ucall(STEPVMM_UCALL_FAIL, 0, text);
}

void guest_start(const struct stepvmm_boot_info *info);
void guest_start(const struct stepvmm_boot_info *info)
{
    boot_info = info;
    if (info->magic != STEPVMM_BOOT_INFO_MAGIC || info->version != STEPVMM_BOOT_INFO_VERSION)
        guest_fail(__FILE__, __LINE__, "boot info has the wrong magic or version");
    guest_done(guest_main(info));
}

void *memset(void *destination, int value, size_t count)
{
    unsigned char *bytes = destination;
    while (count--)
        *bytes++ = (unsigned char)value;
    return destination;
}

void *memcpy(void *destination, const void *source, size_t count)
{
    unsigned char *to = destination;
    const unsigned char *from = source;
    while (count--)
        *to++ = *from++;
    return destination;
}

size_t strlen(const char *text)
{
    size_t length = 0;
    while (text[length])
        ++length;
    return length;
}
