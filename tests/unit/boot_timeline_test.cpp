// Boot timing from console bytes: first byte and each marker, measured from VMM start.

#include <stepvmm/boot/boot_timeline.hpp>

#include <catch2/catch.hpp>

#include <string_view>

using namespace stepvmm::boot;
using namespace std::chrono_literals;

TEST_CASE("BootTimeline records the first byte and the first time each marker completes", "[boot][timeline]")
{
    auto start = BootTimeline::Clock::time_point {};
    BootTimeline timeline(start, { "Linux version", "/init reached" });
    auto feed = [&](std::string_view text, std::chrono::milliseconds at) {
        for (char c : text)
            timeline.observe(static_cast<std::uint8_t>(c), start + at);
    };
    CHECK_FALSE(timeline.first_byte());
    feed("early\r\n", 100ms);
    feed("[    0.000000] Linux vers", 200ms);
    CHECK_FALSE(timeline.marker("Linux version"));
    feed("ion 6.1.0\n", 300ms);
    feed("Linux version again\n", 400ms);
    CHECK(timeline.first_byte() == std::chrono::milliseconds(100));
    CHECK(timeline.marker("Linux version") == std::chrono::milliseconds(300));
    CHECK_FALSE(timeline.marker("/init reached"));
    CHECK(timeline.last_line() == "Linux version again");
    CHECK(timeline.bytes() > 40);
    auto report = timeline.format();
    CHECK_THAT(report, Catch::Contains("0.300 s") && Catch::Contains("not reached"));
}
