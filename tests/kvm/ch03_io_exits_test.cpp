// Chapter 03 end to end: the guest's pattern lands in the disk file byte for byte, the exit
// counts per sector are exactly what the ATA protocol implies, the UART carries the console
// both ways, and a read-only disk refuses writes without stopping the VMM.

#include <catch2/catch.hpp>
#include <temporary_file.hpp>
#include <ch03_io_exits_abi.h>
#include <process.hpp>
#include <skip.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

using namespace stepvmm::test;

namespace {

constexpr std::size_t sector_size = 512;

ProcessResult run_ch03(std::vector<std::string> extra, const std::string& input = "")
{
    // Quick defaults unless the test asks otherwise: no wait for a typed line, few timed exits.
    std::vector<std::string> argv { chapter_binary("ch03_io_exits"), "--exit-cost-iterations", "200" };
    if (std::find(extra.begin(), extra.end(), "--echo-seconds") == extra.end())
        argv.insert(argv.end(), { "--echo-seconds", "0" });
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, std::chrono::seconds(120), input);
}

// "disk writes:    20 sectors,    5164 disk exits = ..." -> {20, 5164}
std::pair<unsigned long, unsigned long> printed_phase(const std::string& out, const std::string& phase)
{
    std::smatch match;
    REQUIRE(std::regex_search(out, match, std::regex(phase + R"(:\s+(\d+) sectors,\s+(\d+) disk exits)")));
    return { std::stoul(match[1].str()), std::stoul(match[2].str()) };
}

}

TEST_CASE("ch03 guest writes its pattern to the disk file byte for byte", "[ch03]")
{
    require_kvm();
    TemporaryFile disk(std::vector<std::uint8_t>(256 * 1024));
    auto result = run_ch03({ "--disk", disk.path(), "--sectors", "64", "--sectors-per-command", "8" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    auto bytes = disk.contents();
    REQUIRE(bytes.size() == 256 * 1024);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        unsigned char expected = i < 64 * sector_size ? CH03_PATTERN_BYTE(i / sector_size, i % sector_size) : 0;
        wrong += bytes[i] != expected;
    }
    CHECK(wrong == 0);
}

TEST_CASE("ch03 exits per sector are exactly what the ATA protocol implies", "[ch03]")
{
    require_kvm();
    TemporaryFile disk(std::vector<std::uint8_t>(64 * 1024));
    // 20 sectors, 8 per command: commands of 8, 8 and 4 sectors.
    auto result = run_ch03({ "--disk", disk.path(), "--sectors", "20", "--sectors-per-command", "8" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    // Per command: 6 task-file writes + 1 final status read; per sector: 1 status read + 256
    // data words. The write phase ends with FLUSH CACHE: device + command + status = 3.
    constexpr unsigned long commands = 3, sectors = 20;
    CHECK(printed_phase(result.out, "disk writes") == std::pair { sectors, commands * 7 + sectors * 257 + 3 });
    CHECK(printed_phase(result.out, "disk reads") == std::pair { sectors, commands * 7 + sectors * 257 });
}

TEST_CASE("ch03 console goes out through the UART and typed input is echoed by the guest", "[ch03]")
{
    require_kvm();
    TemporaryFile disk(std::vector<std::uint8_t>(64 * 1024));
    auto result = run_ch03({ "--disk", disk.path(), "--sectors", "8", "--echo-seconds", "20" }, "hello uart\n");
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("hello from the guest, through a 16550 UART\r\n") != std::string::npos);
    CHECK(result.out.find("type a line and press Enter: hello uart\r\n") != std::string::npos);
    CHECK(result.out.find("ch03 guest: done") != std::string::npos);
    CHECK(std::regex_search(result.out, std::regex(R"(UART: \d+ bytes out, 11 bytes in)")));
}

TEST_CASE("ch03 read-only disk: the guest sees an error status, the VMM runs on, the file is unchanged", "[ch03][bad-input]")
{
    require_kvm();
    TemporaryFile disk(std::vector<std::uint8_t>(64 * 1024));
    auto result = run_ch03({ "--disk", disk.path(), "--readonly", "--sectors", "16", "--sectors-per-command", "8" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("2 refused writes") != std::string::npos);
    CHECK(result.out.find("ch03 guest: done") != std::string::npos);
    auto bytes = disk.contents();
    CHECK(std::count(bytes.begin(), bytes.end(), 0) == static_cast<long>(bytes.size()));
}

TEST_CASE("ch03 counts the guest's accesses to ports no device decodes", "[ch03]")
{
    require_kvm();
    TemporaryFile disk(std::vector<std::uint8_t>(64 * 1024));
    auto result = run_ch03({ "--disk", disk.path(), "--sectors", "1" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(std::regex_search(result.out, std::regex(R"(PIO\s+\(unclaimed\)\s+reads\s+1\s+writes\s+1\n)")));
    CHECK(std::regex_search(result.out, std::regex(R"(PIO\s+post-code\s+reads\s+0\s+writes\s+200\n)")));
    CHECK(std::regex_search(result.out, std::regex(R"(MMIO\s+null-mmio\s+reads\s+0\s+writes\s+200\n)")));
}

TEST_CASE("ch03 prints its exit profile on SIGUSR1 and keeps running", "[ch03]")
{
    require_kvm();
    TemporaryFile disk(std::vector<std::uint8_t>(64 * 1024));
    // The guest waits 5 s for a line that never comes. Once its prompt is out (so the VMM's
    // handler is surely installed), the signal arrives.
    TemporaryFile console(std::string_view {});
    std::string command = chapter_binary("ch03_io_exits") + " --disk " + disk.path()
        + " --sectors 1 --echo-seconds 5 --exit-cost-iterations 10 < /dev/null > " + console.path()
        + " & vmm=$!; until grep -q 'type a line' " + console.path() + "; do sleep 0.1; done; kill -USR1 $vmm; wait $vmm; cat "
        + console.path();
    auto result = run_process({ "sh", "-c", command });
    INFO(result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.err.find("exit profile") != std::string::npos);
    CHECK(result.out.find("(nothing typed)") != std::string::npos);
    CHECK(result.out.find("ch03 guest: done") != std::string::npos);
}

TEST_CASE("ch03 bad disk input is one clear error", "[ch03][bad-input]")
{
    require_kvm();
    auto missing = run_ch03({ "--disk", "/nonexistent/disk.img" });
    CHECK(missing.exit_code == 1);
    CHECK(missing.err == "ch03_io_exits: error: open disk /nonexistent/disk.img: No such file or directory (errno 2)\n");

    auto no_disk = run_ch03({});
    CHECK(no_disk.exit_code == 1);
    CHECK(no_disk.err == "ch03_io_exits: error: --disk is required (see --help)\n");

    TemporaryFile tiny(std::vector<std::uint8_t>(1024));
    auto too_small = run_ch03({ "--disk", tiny.path(), "--sectors", "4" });
    CHECK(too_small.exit_code == 1);
    CHECK(lines_of(too_small.err).size() == 1);
    CHECK(too_small.err.find("holds 1024 bytes; the guest writes 4 sectors") != std::string::npos);
}
