// Chapter 02 end to end: the dirty log names exactly the pages the guest wrote, the ROM
// refuses a write through an MMIO exit, and each backing is what it claims to be according
// to the kernel's own accounting (/proc/<vmm>/smaps, as printed by the VMM).

#include <catch2/catch.hpp>
#include <hugepages.hpp>
#include <process.hpp>
#include <skip.hpp>

#include <cstdint>
#include <fmt/format.h>
#include <regex>
#include <string>
#include <vector>

using namespace stepvmm::test;

namespace {

constexpr std::uint64_t four_gib = 1ULL << 32;

ProcessResult run_ch02(std::vector<std::string> extra)
{
    std::vector<std::string> argv { chapter_binary("ch02_memory") };
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv);
}

// The pages the chapter documents it asks for: spread over high RAM with a stride of
// size/count, each shifted by (i % 3) pages.
std::vector<std::uint64_t> documented_dirty_targets(std::uint64_t high_size, unsigned count)
{
    std::vector<std::uint64_t> pages;
    std::uint64_t stride = (high_size / count) & ~std::uint64_t { 0xfff };
    for (unsigned i = 0; i < count; ++i)
        pages.push_back(four_gib + i * stride + (i % 3) * 0x1000);
    return pages;
}

std::vector<std::uint64_t> printed_dirty_pages(const std::string& out)
{
    std::smatch match;
    REQUIRE(std::regex_search(out, match, std::regex(R"(dirty log of slot 1: (\d+) page\(s\): ([0-9a-fx ]*))")));
    std::vector<std::uint64_t> pages;
    std::istringstream list(match[2].str());
    std::string word;
    while (list >> word)
        pages.push_back(std::stoull(word, nullptr, 16));
    CHECK(pages.size() == std::stoull(match[1].str()));
    return pages;
}

struct Evidence {
    std::uint64_t kernel_page_kib;
    std::uint64_t rss_kib;
    std::uint64_t anon_huge_kib;
    std::uint64_t hugetlb_kib;
};

Evidence printed_evidence(const std::string& out)
{
    std::smatch match;
    REQUIRE(std::regex_search(out, match,
        std::regex(R"(KernelPageSize (\d+) kB, resident (\d+) kB, AnonHugePages (\d+) kB, Hugetlb (\d+) kB)")));
    return { std::stoull(match[1].str()), std::stoull(match[2].str()), std::stoull(match[3].str()), std::stoull(match[4].str()) };
}

}

TEST_CASE("ch02 dirty log equals the pages the guest wrote", "[ch02]")
{
    require_kvm();
    unsigned count = GENERATE(1u, 8u, 32u);
    auto result = run_ch02({ "--mem", "64M", "--hole-start", "32M", "--dirty-pages", std::to_string(count), "--touch", "0" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(printed_dirty_pages(result.out) == documented_dirty_targets(32ULL << 20, count));
    CHECK(result.out.find("dirty log: exact") != std::string::npos);
}

TEST_CASE("ch02 guest sees the memory map and a read-only ROM", "[ch02]")
{
    require_kvm();
    auto result = run_ch02({ "--mem", "64M", "--hole-start", "32M", "--touch", "0" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("guest: RAM [0x0, 0x2000000) 32 MiB") != std::string::npos);
    CHECK(result.out.find("guest: RAM [0x100000000, 0x102000000) 32 MiB") != std::string::npos);
    CHECK(result.out.find("guest: ROM at 0xffff0000 reads \"stepvmm read-only memory\"") != std::string::npos);
    CHECK(count_lines_containing(result.out, "guest wrote 1 byte(s) to ROM at 0xffff0000; ignored") == 1);
    CHECK(result.out.find("guest: ROM write was refused; the ROM is unchanged") != std::string::npos);
    CHECK(result.out.find("KVM_EXIT_MMIO=1 ") != std::string::npos);
}

TEST_CASE("ch02 4k backing uses only 4 KiB host pages", "[ch02][backing]")
{
    require_kvm();
    auto result = run_ch02({ "--mem", "64M", "--hole-start", "32M", "--backing", "4k" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    auto evidence = printed_evidence(result.out);
    CHECK(evidence.kernel_page_kib == 4);
    CHECK(evidence.anon_huge_kib == 0);
    CHECK(evidence.rss_kib >= 32 * 1024); // the ring-3 loop touched all 32 MiB of high RAM
    CHECK(result.out.find("guest: ring 3 touched every page and read it back") != std::string::npos);
}

TEST_CASE("ch02 thp backing is backed by transparent huge pages", "[ch02][backing]")
{
    require_kvm();
    auto result = run_ch02({ "--mem", "64M", "--hole-start", "32M", "--backing", "thp" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    auto evidence = printed_evidence(result.out);
    // THP is best effort: with free memory (CI machines have plenty) most of the range is huge.
    CHECK(evidence.anon_huge_kib >= 16 * 1024);
}

TEST_CASE("ch02 hugetlb-2m backing comes from the 2 MiB pool", "[ch02][backing]")
{
    require_kvm();
    HugepageReservation reservation(2048, 32); // 64 MiB of guest RAM
    auto result = run_ch02({ "--mem", "64M", "--hole-start", "32M", "--backing", "hugetlb-2m" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    auto evidence = printed_evidence(result.out);
    CHECK(evidence.kernel_page_kib == 2048);
    CHECK(evidence.hugetlb_kib == 32 * 1024);
    CHECK(evidence.rss_kib == 32 * 1024);
}

TEST_CASE("ch02 hugetlb-1g backing comes from the 1 GiB pool", "[ch02][backing]")
{
    require_kvm();
    HugepageReservation reservation(1048576, 2); // 1 GiB below the hole, 1 GiB above
    auto result = run_ch02({ "--mem", "2G", "--hole-start", "1G", "--backing", "hugetlb-1g", "--touch", "64M" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    auto evidence = printed_evidence(result.out);
    CHECK(evidence.kernel_page_kib == 1048576);
    CHECK(evidence.hugetlb_kib == 1048576);
}

TEST_CASE("ch02 runs with 1 GiB guest pages where the CPU offers them", "[ch02]")
{
    require_kvm();
    auto result = run_ch02({ "--mem", "64M", "--hole-start", "32M", "--guest-pages", "1g", "--touch", "0" });
    INFO(result.out << result.err);
    if (result.err.find("does not offer 1 GiB guest pages") != std::string::npos) {
        CHECK(result.exit_code == 1);
        skip_test("this KVM does not offer 1 GiB guest pages (CPUID Page1GB); the VMM said so clearly");
    }
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("dirty log: exact") != std::string::npos);
}
