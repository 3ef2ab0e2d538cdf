// Chapter 06 end to end: the tiny guest driver writes a pattern through virtio-blk over each
// transport, flushes, reads it back and checks it; here the test checks the disk FILE byte for
// byte afterwards, that a read-only disk stays untouched, and what the exit counts show.

#include <ch06_virtio_blk_abi.h>
#include <catch2/catch.hpp>
#include <process.hpp>
#include <skip.hpp>
#include <temporary_file.hpp>

#include <regex>
#include <string>
#include <vector>

using namespace stepvmm::test;

namespace {

constexpr std::size_t disk_size = 4 << 20;
constexpr unsigned sectors = 96;

ProcessResult run_ch06(const std::string& disk, std::vector<std::string> extra)
{
    std::vector<std::string> argv { chapter_binary("ch06_virtio_blk"), "--disk", disk, "--sectors", std::to_string(sectors),
        "--request-sectors", "8", "--bench-requests", "200", "--seed", "7" };
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, std::chrono::seconds(240));
}

double printed(const std::string& out, const std::string& pattern)
{
    std::smatch match;
    REQUIRE(std::regex_search(out, match, std::regex(pattern)));
    return std::stod(match[1].str());
}

bool pattern_on_disk(const std::vector<std::uint8_t>& bytes, unsigned long long seed)
{
    std::size_t first = CH06_PATTERN_FIRST_SECTOR * 512ULL;
    for (std::size_t offset = first; offset < first + sectors * 512ULL; ++offset) {
        if (bytes.at(offset) != ch06_pattern_byte(seed, offset))
            return false;
    }
    return true;
}

} // namespace

TEST_CASE("ch06: the guest's pattern reaches the disk file over every transport", "[ch06]")
{
    require_kvm();
    auto transport = GENERATE(as<std::vector<std::string>> {}, std::vector<std::string> { "--transport", "mmio" },
        std::vector<std::string> { "--transport", "pci", "--interrupts", "msix" },
        std::vector<std::string> { "--transport", "pci", "--interrupts", "intx" });
    TemporaryFile disk(std::vector<std::uint8_t>(disk_size, 0));
    auto result = run_ch06(disk.path(), transport);
    INFO(transport[1] << "\n" << result.out << result.err);
    REQUIRE(result.exit_code == 0);
    auto bytes = disk.contents();
    CHECK(bytes.size() == disk_size);
    CHECK(pattern_on_disk(bytes, 7));
    // Nothing before the pattern was touched (the measured phases write only after it).
    CHECK(std::all_of(bytes.begin(), bytes.begin() + CH06_PATTERN_FIRST_SECTOR * 512, [](std::uint8_t b) { return b == 0; }));
    CHECK(result.out.find("id \"stepvmm-") != std::string::npos);
    // 2 * 96 / 8 data requests, one FLUSH: each took one completion interrupt.
    CHECK(printed(result.out, R"(interrupts taken by the guest: (\d+))") == 2 * sectors / 8 + 1 + 1);
    double exits_per_request = printed(result.out, R"(user-space exits: \d+ for \d+ requests \(([0-9.]+) per request)");
    // What each transport costs per request in VM exits: virtio-mmio reads InterruptStatus and
    // writes InterruptACK; INTx reads ISR; MSI-X needs nothing (the kick is an ioeventfd).
    if (transport[1] == "mmio")
        CHECK(exits_per_request == Approx(2.0).margin(0.05));
    else if (transport[3] == "intx")
        CHECK(exits_per_request == Approx(1.0).margin(0.05));
    else
        CHECK(exits_per_request < 0.05);
    CHECK(printed(result.out, R"(user-space exits per request: ([0-9.]+))") < 0.05);
    // mmio and INTx are level-triggered lines behind a resampling irqfd: each interrupt the
    // guest took was one rise of the line, and KVM reported the guest's EOIs back.
    if (transport[1] == "mmio" || transport[3] == "intx") {
        double raised = printed(result.out, R"(resampling irqfd\): raised (\d+) times)");
        CHECK(raised == printed(result.out, R"(interrupts taken by the guest: (\d+))"));
        CHECK(printed(result.out, R"((\d+) EOIs reported back)") >= 1);
    }
}

TEST_CASE("ch06: works without EVENT_IDX and without indirect descriptors", "[ch06]")
{
    require_kvm();
    TemporaryFile disk(std::vector<std::uint8_t>(disk_size, 0));
    auto result = run_ch06(disk.path(), { "--event-idx", "false", "--indirect", "false", "--transport", "mmio" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("event_idx=0 indirect=0") != std::string::npos);
    CHECK(pattern_on_disk(disk.contents(), 7));
}

TEST_CASE("ch06: a read-only disk is read and never written", "[ch06]")
{
    require_kvm();
    std::vector<std::uint8_t> prepared(disk_size, 0x5a);
    for (std::size_t offset = CH06_PATTERN_FIRST_SECTOR * 512ULL; offset < (CH06_PATTERN_FIRST_SECTOR + sectors) * 512ULL; ++offset)
        prepared[offset] = ch06_pattern_byte(7, offset);
    TemporaryFile disk(prepared);
    auto result = run_ch06(disk.path(), { "--readonly" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("read-only=1") != std::string::npos);
    CHECK(disk.contents() == prepared);
}

TEST_CASE("ch06: a disk that cannot be opened is one clear error", "[ch06]")
{
    require_kvm();
    auto result = run_ch06("/nonexistent/disk.img", {});
    CHECK(result.exit_code == 1);
    CHECK(count_lines_containing(result.err, "ch06_virtio_blk:") == 1);
    CHECK(result.err.find("/nonexistent/disk.img") != std::string::npos);
}

TEST_CASE("ch06: a disk too small for the guest's pattern is one clear error, and stays as it was", "[ch06]")
{
    require_kvm();
    std::vector<std::uint8_t> small((CH06_PATTERN_FIRST_SECTOR + sectors) * 512 - 1, 0x33);
    TemporaryFile disk(small);
    auto result = run_ch06(disk.path(), {});
    CHECK(result.exit_code == 1);
    CHECK(count_lines_containing(result.err, "ch06_virtio_blk:") == 1);
    CHECK(result.err.find("truncate -s") != std::string::npos);
    CHECK(disk.contents() == small);
}
