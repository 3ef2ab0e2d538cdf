// The VMM side of the ucall channel: a guest writes the address of a struct stepvmm_ucall with
// a 32-bit OUT to STEPVMM_UCALL_PORT; decode_ucall() reads it through the checked translation.
// The exits here are made by hand, as KVM_RUN would report them.

#include <stepvmm/guest/ucall.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstring>
#include <string>

using namespace stepvmm;
using stepvmm::guest::UcallCommand;

namespace {

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint32_t ucall_address = 0x5000;

GuestMemory make_memory() { return GuestMemory(pc_memory_layout(8 * mib, 4 * mib), Backing::Anonymous4K); }

// What KVM reports for "outl %eax, $STEPVMM_UCALL_PORT" with EAX = @p address.
struct FakeOut {
    std::array<std::uint8_t, 4> data {};
    IoExit exit;

    explicit FakeOut(std::uint32_t address, std::uint16_t port = STEPVMM_UCALL_PORT, std::uint8_t size = 4)
        : exit { AccessDirection::Write, port, size, 1, data }
    {
        std::memcpy(data.data(), &address, sizeof(address));
    }
};

stepvmm_ucall make_ucall(stepvmm_ucall_command command, const char* text = "")
{
    stepvmm_ucall ucall {};
    ucall.command = command;
    std::strncpy(ucall.text, text, sizeof(ucall.text) - 1);
    return ucall;
}

}

TEST_CASE("decode_ucall reads a PRINT request and its text", "[ucall]")
{
    auto memory = make_memory();
    memory.write(ucall_address, make_ucall(STEPVMM_UCALL_PRINT, "hello from the guest"));
    FakeOut out(ucall_address);

    auto ucall = guest::decode_ucall(memory, out.exit);
    REQUIRE(ucall.has_value());
    CHECK(ucall->command == UcallCommand::Print);
    CHECK(ucall->text == "hello from the guest");
}

TEST_CASE("decode_ucall reads a DONE request and its status", "[ucall]")
{
    auto memory = make_memory();
    auto request = make_ucall(STEPVMM_UCALL_DONE);
    request.args[0] = 3;
    memory.write(ucall_address, request);
    FakeOut out(ucall_address);

    auto ucall = guest::decode_ucall(memory, out.exit);
    REQUIRE(ucall.has_value());
    CHECK(ucall->command == UcallCommand::Done);
    CHECK(ucall->args[0] == 3);
    CHECK(ucall->text.empty());
}

TEST_CASE("decode_ucall copies all four arguments", "[ucall]")
{
    auto memory = make_memory();
    auto request = make_ucall(STEPVMM_UCALL_REPORT, "pages");
    request.args[0] = 1;
    request.args[1] = 2;
    request.args[2] = 3;
    request.args[3] = 0xffff'ffff'ffff'ffff;
    memory.write(ucall_address, request);
    FakeOut out(ucall_address);

    auto ucall = guest::decode_ucall(memory, out.exit);
    REQUIRE(ucall.has_value());
    CHECK(ucall->command == UcallCommand::Report);
    CHECK(ucall->args == std::array<std::uint64_t, 4> { 1, 2, 3, 0xffff'ffff'ffff'ffff });
}

TEST_CASE("decode_ucall cuts text without a NUL at the end of the text buffer", "[ucall]")
{
    auto memory = make_memory();
    auto request = make_ucall(STEPVMM_UCALL_PRINT);
    std::memset(request.text, 'x', sizeof(request.text));
    memory.write(ucall_address, request);
    // The bytes right after the struct are not part of the text.
    memory.write<std::uint64_t>(ucall_address + sizeof(stepvmm_ucall), 0x7979'7979'7979'7979);
    FakeOut out(ucall_address);

    auto ucall = guest::decode_ucall(memory, out.exit);
    REQUIRE(ucall.has_value());
    CHECK(ucall->text == std::string(STEPVMM_UCALL_TEXT_SIZE, 'x'));
}

TEST_CASE("decode_ucall ignores an OUT to another port", "[ucall]")
{
    auto memory = make_memory();
    memory.write(ucall_address, make_ucall(STEPVMM_UCALL_PRINT, "not for us"));
    FakeOut out(ucall_address, 0x3f8);
    CHECK_FALSE(guest::decode_ucall(memory, out.exit).has_value());
}

TEST_CASE("decode_ucall ignores an IN from the ucall port", "[ucall]")
{
    auto memory = make_memory();
    memory.write(ucall_address, make_ucall(STEPVMM_UCALL_PRINT, "not for us"));
    FakeOut in(ucall_address);
    in.exit.direction = AccessDirection::Read;
    CHECK_FALSE(guest::decode_ucall(memory, in.exit).has_value());
}

TEST_CASE("decode_ucall rejects an OUT that is not one 32-bit write", "[ucall]")
{
    auto memory = make_memory();
    memory.write(ucall_address, make_ucall(STEPVMM_UCALL_PRINT, "hi"));
    FakeOut byte(ucall_address, STEPVMM_UCALL_PORT, 1);
    CHECK_THROWS_AS(guest::decode_ucall(memory, byte.exit), GuestAccessError);

    FakeOut repeated(ucall_address); // rep outsl
    repeated.exit.count = 2;
    CHECK_THROWS_AS(guest::decode_ucall(memory, repeated.exit), GuestAccessError);
}

TEST_CASE("decode_ucall rejects a request address outside guest RAM", "[ucall]")
{
    auto memory = make_memory();
    FakeOut in_the_hole(static_cast<std::uint32_t>(5 * mib));
    CHECK_THROWS_AS(guest::decode_ucall(memory, in_the_hole.exit), GuestAccessError);

    // Starts in RAM, ends past it.
    FakeOut straddling(static_cast<std::uint32_t>(4 * mib - 16));
    CHECK_THROWS_AS(guest::decode_ucall(memory, straddling.exit), GuestAccessError);
}

TEST_CASE("decode_ucall rejects an unknown command", "[ucall]")
{
    auto memory = make_memory();
    for (std::uint64_t command : { std::uint64_t { 0 }, std::uint64_t { STEPVMM_UCALL_DONE + 1 }, std::uint64_t { 1ULL << 32 | 1 } }) {
        CAPTURE(command);
        stepvmm_ucall request {};
        request.command = command;
        memory.write(ucall_address, request);
        FakeOut out(ucall_address);
        CHECK_THROWS_AS(guest::decode_ucall(memory, out.exit), GuestAccessError);
    }
}
