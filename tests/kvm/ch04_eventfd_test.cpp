// Chapter 04 end to end: every mode completes its requests with the right answers (the guest
// checks each one), the ioeventfd modes cost the VMM no exits per kick, every kick gets
// exactly one completion interrupt, and typed input reaches the guest through UART
// interrupts.

#include <catch2/catch.hpp>
#include <process.hpp>
#include <skip.hpp>

#include <regex>
#include <string>
#include <vector>

using namespace stepvmm::test;

namespace {

ProcessResult run_ch04(std::vector<std::string> extra, const std::string& input = "")
{
    std::vector<std::string> argv { chapter_binary("ch04_eventfd") };
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, std::chrono::seconds(180), input);
}

double printed(const std::string& out, const std::string& label)
{
    std::smatch match;
    REQUIRE(std::regex_search(out, match, std::regex(label + R"(:\s+([0-9.]+))")));
    return std::stod(match[1].str());
}

// "requests: 300 in 300 kicks; the guest took 300 completion interrupts"
std::vector<unsigned long> printed_totals(const std::string& out)
{
    std::smatch match;
    REQUIRE(std::regex_search(out, match, std::regex(R"(requests: (\d+) in (\d+) kicks; the guest took (\d+) completion interrupts)")));
    return { std::stoul(match[1].str()), std::stoul(match[2].str()), std::stoul(match[3].str()) };
}

}

TEST_CASE("ch04 exit mode: one VMM exit and one KVM_IRQ_LINE interrupt per request", "[ch04]")
{
    require_kvm();
    auto result = run_ch04({ "--mode", "exit", "--requests", "300" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(printed_totals(result.out) == std::vector<unsigned long> { 300, 300, 300 });
    CHECK(printed(result.out, "user-space exits per request") == Approx(1.0));
    CHECK(result.out.find("device: 300 requests served, 300 kicks by exit, 0 by ioeventfd, 300 interrupts raised") != std::string::npos);
}

TEST_CASE("ch04 ioeventfd mode: kicks never reach the VMM's vCPU thread", "[ch04]")
{
    require_kvm();
    auto doorbell = GENERATE(as<std::string> {}, "pio", "mmio");
    auto result = run_ch04({ "--mode", "ioeventfd", "--requests", "300", "--doorbell", doorbell });
    INFO(doorbell << "\n" << result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(printed_totals(result.out) == std::vector<unsigned long> { 300, 300, 300 });
    CHECK(printed(result.out, "user-space exits per request") == 0.0);
    CHECK(result.out.find("device: 300 requests served, 0 kicks by exit, 300 by ioeventfd, 300 interrupts raised") != std::string::npos);
    // The only register writes that exited: the three configuration writes.
    std::string bus = doorbell == "pio" ? "PIO " : "MMIO";
    CHECK(std::regex_search(result.out, std::regex(bus + R"(\s+request-queue\s+reads\s+0\s+writes\s+3\n)")));
}

TEST_CASE("ch04 batched mode: one kick and one interrupt per batch", "[ch04]")
{
    require_kvm();
    auto result = run_ch04({ "--mode", "batched", "--requests", "1000", "--batch", "64" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    // 1000 requests in batches of 64: 15 full batches and one of 40.
    CHECK(printed_totals(result.out) == std::vector<unsigned long> { 1000, 16, 16 });
    CHECK(printed(result.out, "kicks per request") == Approx(0.016));
    CHECK(printed(result.out, "user-space exits per request") == 0.0);
}

TEST_CASE("ch04 typed input reaches the guest through UART receive interrupts", "[ch04]")
{
    require_kvm();
    auto result = run_ch04({ "--mode", "ioeventfd", "--requests", "10", "--echo-seconds", "20" }, "interrupts!\n");
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("type a line and press Enter: interrupts!\r\n") != std::string::npos);
    CHECK(result.out.find("ch04 guest: done") != std::string::npos);
}

TEST_CASE("ch04 without typed input the PIT ends the wait", "[ch04]")
{
    require_kvm();
    auto result = run_ch04({ "--mode", "exit", "--requests", "10", "--echo-seconds", "1" });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("(nothing typed)") != std::string::npos);
}
