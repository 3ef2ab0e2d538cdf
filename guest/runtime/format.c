/* A small printf: enough for guests to print numbers and names, nothing more. */
#include <stepvmm_guest.h>

struct output {
    char *buffer;
    size_t size;
    size_t length;
};

static void put(struct output *out, char c)
{
    if (out->length + 1 < out->size)
        out->buffer[out->length] = c;
    ++out->length;
}

static void put_unsigned(struct output *out, uint64_t value, unsigned base)
{
    char digits[24];
    int count = 0;
    do {
        unsigned digit = (unsigned)(value % base);
        digits[count++] = (char)(digit < 10 ? '0' + digit : 'a' + digit - 10);
        value /= base;
    } while (value);
    while (count)
        put(out, digits[--count]);
}

size_t guest_vformat(char *buffer, size_t size, const char *format, va_list args)
{
    struct output out = { buffer, size, 0 };
    for (const char *p = format; *p; ++p) {
        if (*p != '%') {
            put(&out, *p);
            continue;
        }
        ++p;
        int alternate = 0; /* '#': 0x prefix for %x */
        if (*p == '#') {
            alternate = 1;
            ++p;
        }
        int longs = 0;
        while (*p == 'l') {
            ++longs;
            ++p;
        }
        switch (*p) {
        case 's': {
            const char *text = va_arg(args, const char *);
            while (*text)
                put(&out, *text++);
            break;
        }
        case 'c':
            put(&out, (char)va_arg(args, int));
            break;
        case 'd': {
            int64_t value = longs ? va_arg(args, int64_t) : va_arg(args, int);
            if (value < 0) {
                put(&out, '-');
                put_unsigned(&out, (uint64_t)0 - (uint64_t)value, 10);
            } else {
                put_unsigned(&out, (uint64_t)value, 10);
            }
            break;
        }
        case 'u':
            put_unsigned(&out, longs ? va_arg(args, uint64_t) : va_arg(args, unsigned), 10);
            break;
        case 'x':
            if (alternate) {
                put(&out, '0');
                put(&out, 'x');
            }
            put_unsigned(&out, longs ? va_arg(args, uint64_t) : va_arg(args, unsigned), 16);
            break;
        case 'p':
            put(&out, '0');
            put(&out, 'x');
            put_unsigned(&out, (uint64_t)(uintptr_t)va_arg(args, void *), 16);
            break;
        case '%':
            put(&out, '%');
            break;
        case '\0':
            --p; /* a lone '%' at the end: stop at the terminator */
            break;
        default:
            put(&out, '%');
            put(&out, *p);
            break;
        }
    }
    if (size)
        out.buffer[out.length < size ? out.length : size - 1] = '\0';
    return out.length < size ? out.length : (size ? size - 1 : 0);
}

size_t guest_format(char *buffer, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    size_t length = guest_vformat(buffer, size, format, args);
    va_end(args);
    return length;
}
