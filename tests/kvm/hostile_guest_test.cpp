// A guest that breaks the rules is stopped with one clear line and exit status 2; the VMM
// neither crashes nor hangs (house rule 3: guest memory and guest requests are hostile).

#include <catch2/catch.hpp>
#include <process.hpp>
#include <skip.hpp>

#include <string>

using namespace stepvmm::test;

TEST_CASE("a hostile guest is stopped with one clear guest error", "[hostile]")
{
    require_kvm();
    struct Case {
        std::string guest;
        std::string message;
    };
    auto [guest, message] = GENERATE(values<Case>({
        { "guest_hostile_ucall_outside_ram", "guest-physical range [0xfe000000, +0xf0) is not guest RAM" },
        { "guest_hostile_ucall_bad_command", "has unknown command 99" },
        { "guest_hostile_unclaimed_mmio", "unhandled MMIO write at 0xfe000000 (no RAM or device there)" },
        { "guest_hostile_spin", "the guest was still running after 2 s; stopped it" },
        { "guest_hostile_assert", "guest assertion failed: hostile.c:19: info->magic == 0" },
    }));
    auto result = run_process({ chapter_binary("ch02_memory"), "--guest", std::string(STEPVMM_GUEST_DIR) + "/" + guest + ".elf",
        "--mem", "64M", "--hole-start", "32M", "--timeout", "2" }, std::chrono::seconds(60));
    INFO(guest << "\n" << result.out << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 2);
    auto lines = lines_of(result.err);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.back().rfind("ch02_memory: guest error: ", 0) == 0);
    CHECK(lines.back().find(message) != std::string::npos);
    CHECK(count_lines_containing(result.err, "guest error") == 1);
}
