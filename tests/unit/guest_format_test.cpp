// The guest runtime's printf subset (guest/runtime/format.c). It is plain freestanding C, so
// the test compiles the very same file for the host and checks what it prints.

#include <catch2/catch.hpp>

#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

extern "C" std::size_t guest_format(char* buffer, std::size_t size, const char* format, ...);

namespace {

// Formats into a roomy buffer; checks the returned length against the text it wrote.
template<typename... Args>
std::string format(const char* text, Args... args)
{
    std::array<char, 256> buffer {};
    std::size_t length = guest_format(buffer.data(), buffer.size(), text, args...);
    CHECK(length == std::strlen(buffer.data()));
    return std::string(buffer.data());
}

}

TEST_CASE("guest_format copies plain text and prints %% as a percent sign", "[guest_format]")
{
    CHECK(format("plain text") == "plain text");
    CHECK(format("") == "");
    CHECK(format("100%%") == "100%");
}

TEST_CASE("guest_format prints strings with %s and characters with %c", "[guest_format]")
{
    CHECK(format("[%s]", "guest") == "[guest]");
    CHECK(format("[%s]", "") == "[]");
    CHECK(format("%c%c", 'o', 'k') == "ok");
}

TEST_CASE("guest_format prints signed decimals with %d and %ld, down to INT_MIN", "[guest_format]")
{
    CHECK(format("%d", 0) == "0");
    CHECK(format("%d", 42) == "42");
    CHECK(format("%d", -7) == "-7");
    CHECK(format("%d", INT_MIN) == "-2147483648");
    CHECK(format("%d", INT_MAX) == "2147483647");
    CHECK(format("%ld", -1L) == "-1");
    CHECK(format("%ld", LONG_MIN) == "-9223372036854775808");
}

TEST_CASE("guest_format prints unsigned decimals with %u, %lu and %llu", "[guest_format]")
{
    CHECK(format("%u", 4000000000U) == "4000000000");
    CHECK(format("%lu", 18446744073709551615UL) == "18446744073709551615");
    CHECK(format("%llu", 1234567890123ULL) == "1234567890123");
}

TEST_CASE("guest_format prints hexadecimal with %x, and a 0x prefix with %#lx", "[guest_format]")
{
    CHECK(format("%x", 0xdeadbeefU) == "deadbeef");
    CHECK(format("%x", 0U) == "0");
    CHECK(format("%#lx", 0x1'0000'0000UL) == "0x100000000");
    CHECK(format("%#lx", 0UL) == "0x0");
    CHECK(format("%lx", 0xffff'ffff'ffff'ffffUL) == "ffffffffffffffff");
}

TEST_CASE("guest_format prints pointers with %p as 0x and hex digits", "[guest_format]")
{
    CHECK(format("%p", reinterpret_cast<void*>(0xb8000)) == "0xb8000");
}

TEST_CASE("guest_format prints an unknown conversion as written", "[guest_format]")
{
    CHECK(format("%q") == "%q");
}

TEST_CASE("guest_format stops at a lone % at the end of the format", "[guest_format]")
{
    CHECK(format("abc%") == "abc");
}

TEST_CASE("guest_format truncates to the buffer, always NUL-terminates and returns the written length", "[guest_format]")
{
    std::array<char, 16> buffer;
    buffer.fill('#');
    std::size_t length = guest_format(buffer.data(), 8, "hello %s", "world");
    CHECK(length == 7);
    CHECK(std::string(buffer.data()) == "hello w");
    CHECK(buffer[8] == '#'); // nothing written past the given size
}

TEST_CASE("guest_format with a one-byte buffer writes only the terminator", "[guest_format]")
{
    char buffer[2] = { '#', '#' };
    CHECK(guest_format(buffer, 1, "%d", 12345) == 0);
    CHECK(buffer[0] == '\0');
    CHECK(buffer[1] == '#');
}

TEST_CASE("guest_format with a zero-size buffer writes nothing", "[guest_format]")
{
    char sentinel = '#';
    CHECK(guest_format(&sentinel, 0, "text") == 0);
    CHECK(sentinel == '#');
}
