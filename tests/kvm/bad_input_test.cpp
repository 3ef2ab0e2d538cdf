// Bad input never crashes a chapter: one clear line on stderr and a non-zero exit.

#include <catch2/catch.hpp>
#include <process.hpp>
#include <skip.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace stepvmm::test;

namespace {

// The single line a failing chapter prints, checked to be the only line on stderr.
std::string only_error_line(const ProcessResult& result)
{
    auto lines = lines_of(result.err);
    INFO(result.out << result.err);
    REQUIRE(lines.size() == 1);
    return lines.front();
}

std::string write_temp_file(const std::string& name, const std::string& contents)
{
    std::string path = std::string(STEPVMM_GUEST_DIR) + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
}

}

TEST_CASE("a missing guest image is one clear error", "[bad-input]")
{
    require_kvm();
    for (std::string chapter : { "ch01_kvm_run", "ch02_memory" }) {
        auto result = run_process({ chapter_binary(chapter), "--guest", "/nonexistent/guest.bin" });
        CHECK(result.exit_code == 1);
        CHECK(only_error_line(result) == chapter + ": error: open /nonexistent/guest.bin: No such file or directory (errno 2)");
    }
}

TEST_CASE("a malformed guest image is one clear error", "[bad-input]")
{
    require_kvm();
    std::string not_elf = write_temp_file("test_not_elf.elf", "this is not an ELF file, just text long enough to have a header....");
    auto result = run_process({ chapter_binary("ch02_memory"), "--guest", not_elf, "--mem", "64M", "--hole-start", "32M" });
    CHECK(result.exit_code == 1);
    CHECK(only_error_line(result) == "ch02_memory: error: guest image " + not_elf + ": not an ELF file (bad magic)");

    std::string empty = write_temp_file("test_empty.bin", "");
    result = run_process({ chapter_binary("ch01_kvm_run"), "--guest", empty });
    CHECK(result.exit_code == 1);
    CHECK(only_error_line(result) == "ch01_kvm_run: error: guest image " + empty + " is empty");

    std::string huge = write_temp_file("test_huge.bin", std::string(2 << 20, '\x90'));
    result = run_process({ chapter_binary("ch01_kvm_run"), "--guest", huge });
    CHECK(result.exit_code == 1);
    CHECK(only_error_line(result).find("more than the") != std::string::npos);
    std::remove(not_elf.c_str());
    std::remove(empty.c_str());
    std::remove(huge.c_str());
}

TEST_CASE("no permission on /dev/kvm is one clear error with the fix", "[bad-input]")
{
    require_kvm();
    require_root("drop privileges to an unprivileged user");
    auto result = run_process({ "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", chapter_binary("ch01_kvm_run") });
    if (result.exit_code == 127 || result.err.find("Permission denied") == std::string::npos)
        INFO("setpriv output: " << result.err);
    CHECK(result.exit_code == 1);
    auto line = only_error_line(result);
    CHECK(line.find("ch01_kvm_run: error: open /dev/kvm: Permission denied (errno 13)") == 0);
    CHECK(line.find("usermod -aG kvm") != std::string::npos);
}

TEST_CASE("a host without /dev/kvm gets one clear error", "[bad-input]")
{
    require_kvm();
    require_root("hide /dev/kvm in a private mount namespace");
    auto result = run_process({ "unshare", "--mount", "sh", "-c",
        "mount -t tmpfs none /dev && exec " + chapter_binary("ch02_memory") });
    CHECK(result.exit_code == 1);
    CHECK(only_error_line(result).find("ch02_memory: error: open /dev/kvm: No such file or directory (errno 2) — KVM is not available") == 0);
}

TEST_CASE("hugepages that are not reserved are one clear error with the fix", "[bad-input]")
{
    require_kvm();
    // 64 GiB of 1 GiB pages: more than any test machine has free.
    auto result = run_process({ chapter_binary("ch02_memory"), "--mem", "64G", "--hole-start", "1G", "--backing", "hugetlb-1g" });
    CHECK(result.exit_code == 1);
    auto line = only_error_line(result);
    CHECK(line.find("ch02_memory: error: not enough hugetlb-1g hugepages: guest RAM needs 64") == 0);
    CHECK(line.find("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages") != std::string::npos);
}

TEST_CASE("more guest RAM than the host has is one clear error", "[bad-input]")
{
    require_kvm();
    auto host_gib = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) >> 30;
    std::string too_much = std::to_string(host_gib + 2) + "G";
    auto result = run_process({ chapter_binary("ch02_memory"), "--mem", too_much, "--hole-start", "1G" });
    CHECK(result.exit_code == 1);
    CHECK(only_error_line(result).find("more than this host's") != std::string::npos);
}

TEST_CASE("option values that make no sense are one clear error", "[bad-input]")
{
    require_kvm();
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    std::vector<Case> cases {
        { { "--backing", "bogus" }, "unknown backing 'bogus'" },
        { { "--mem", "12Q" }, "unknown size unit 'Q'" },
        { { "--mem", "32M", "--hole-start", "64M" }, "needs RAM above the hole" },
        { { "--hole-start", "5G" }, "device hole must start" },
        { { "--dirty-pages", "0" }, "--dirty-pages must be 1..32" },
        { { "--mem", "64M", "--hole-start", "32M", "--touch", "1G" }, "--touch is larger" },
    };
    for (const Case& bad : cases) {
        std::vector<std::string> argv { chapter_binary("ch02_memory") };
        argv.insert(argv.end(), bad.args.begin(), bad.args.end());
        auto result = run_process(argv);
        INFO(bad.message);
        CHECK(result.exit_code == 1);
        CHECK(only_error_line(result).find(bad.message) != std::string::npos);
    }
}
