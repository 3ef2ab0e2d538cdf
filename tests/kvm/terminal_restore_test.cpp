// The terminal is a learner's shell: chapter 03 switches it to raw mode and must give it back
// on every way out — a normal end, a guest error, a fatal signal. Run inside a real pseudo-
// terminal (util-linux `script`), compare `stty -g` before, during and after.

#include <catch2/catch.hpp>
#include <process.hpp>
#include <skip.hpp>
#include <temporary_file.hpp>

#include <string>
#include <vector>

using namespace stepvmm::test;

namespace {

struct TerminalStates {
    std::string before;
    std::string during;
    std::string after;
};

// Runs @p vmm_command in a pty; `ending` is shell code run once the guest's prompt is out
// (for example, killing the VMM). Returns the three `stty -g` readings.
TerminalStates run_in_pty(const std::string& vmm_command, const std::string& ending)
{
    TemporaryFile console(std::string_view {});
    TemporaryFile states(std::string_view {});
    std::string script = "stty -g > " + states.path() + "; " + vmm_command + " < /dev/tty > " + console.path() + " 2>&1 & vmm=$!; "
        + "until grep -q 'type a line' " + console.path() + "; do sleep 0.1; done; stty -g >> " + states.path() + "; " + ending
        + "; wait $vmm; stty -g >> " + states.path();
    auto result = run_process({ "script", "-qec", script, "/dev/null" }, std::chrono::seconds(60));
    INFO(result.out << result.err);
    REQUIRE_FALSE(result.timed_out);
    auto contents = states.contents();
    auto lines = lines_of(std::string(contents.begin(), contents.end()));
    REQUIRE(lines.size() == 3);
    return { lines[0], lines[1], lines[2] };
}

}

TEST_CASE("ch03 restores the terminal however it ends", "[ch03][terminal]")
{
    require_kvm();
    TemporaryFile disk(std::vector<std::uint8_t>(64 * 1024));
    std::string vmm = chapter_binary("ch03_io_exits") + " --disk " + disk.path() + " --sectors 1 --exit-cost-iterations 10";
    SECTION("the guest finishes")
    {
        auto states = run_in_pty(vmm + " --echo-seconds 1", "true");
        CHECK(states.during != states.before); // raw mode was really on
        CHECK(states.after == states.before);
    }
    SECTION("the VMM is terminated by a signal")
    {
        auto states = run_in_pty(vmm + " --echo-seconds 30", "kill -TERM $vmm");
        CHECK(states.during != states.before);
        CHECK(states.after == states.before);
    }
    SECTION("the guest runs out of time")
    {
        auto states = run_in_pty(vmm + " --echo-seconds 30 --timeout 2", "true");
        CHECK(states.during != states.before);
        CHECK(states.after == states.before);
    }
}
