// Typed VM exits: their KVM_EXIT_* names, which ones end a run, and counting them.

#include <stepvmm/kvm/exit.hpp>
#include <stepvmm/kvm/exit_counter.hpp>

#include <catch2/catch.hpp>

#include <linux/kvm.h>
#include <string>

using namespace stepvmm;

namespace {
const IoExit an_io_exit { AccessDirection::Write, 0x3f8, 1, 1, {} };
const MmioExit an_mmio_exit { AccessDirection::Read, 0xd000'0000, {} };
constexpr std::uint32_t not_a_reason = 12345;
}

TEST_CASE("exit_reason_name names raw KVM exit reasons", "[exit]")
{
    CHECK(exit_reason_name(KVM_EXIT_IO) == "KVM_EXIT_IO");
    CHECK(exit_reason_name(KVM_EXIT_HLT) == "KVM_EXIT_HLT");
    CHECK(exit_reason_name(KVM_EXIT_MMIO) == "KVM_EXIT_MMIO");
    CHECK(exit_reason_name(KVM_EXIT_INTERNAL_ERROR) == "KVM_EXIT_INTERNAL_ERROR");
}

TEST_CASE("exit_reason_name gives an unknown reason a name no known reason has", "[exit]")
{
    std::string name(exit_reason_name(not_a_reason));
    CHECK_THAT(name, Catch::StartsWith("KVM_EXIT_"));
    for (std::uint32_t known : { KVM_EXIT_UNKNOWN, KVM_EXIT_IO, KVM_EXIT_HLT, KVM_EXIT_MMIO, KVM_EXIT_SHUTDOWN,
             KVM_EXIT_FAIL_ENTRY, KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_SYSTEM_EVENT })
        CHECK(exit_reason_name(known) != name);
}

// Unknown reasons keep their number, so ExitCounter can tell them apart.
TEST_CASE("exit_reason_name puts the number of an unknown reason into its name", "[exit]")
{
    CHECK(exit_reason_name(not_a_reason) == "KVM_EXIT_12345");
}

TEST_CASE("exit_name names each typed exit after its KVM_EXIT_* reason", "[exit]")
{
    CHECK(exit_name(an_io_exit) == "KVM_EXIT_IO");
    CHECK(exit_name(an_mmio_exit) == "KVM_EXIT_MMIO");
    CHECK(exit_name(HaltExit {}) == "KVM_EXIT_HLT");
    CHECK(exit_name(ShutdownExit {}) == "KVM_EXIT_SHUTDOWN");
    CHECK(exit_name(FailEntryExit { 0x21 }) == "KVM_EXIT_FAIL_ENTRY");
    CHECK(exit_name(InternalErrorExit { KVM_INTERNAL_ERROR_EMULATION }) == "KVM_EXIT_INTERNAL_ERROR");
    CHECK(exit_name(InterruptedExit {}) == "KVM_RUN -EINTR");
    CHECK(exit_name(OtherExit { KVM_EXIT_DEBUG }) == "KVM_EXIT_DEBUG");
}

TEST_CASE("fatal_exit_message is empty for exits a VMM handles and resumes from", "[exit]")
{
    CHECK_FALSE(fatal_exit_message(an_io_exit).has_value());
    CHECK_FALSE(fatal_exit_message(an_mmio_exit).has_value());
    CHECK_FALSE(fatal_exit_message(HaltExit {}).has_value());
    CHECK_FALSE(fatal_exit_message(InterruptedExit {}).has_value());
}

TEST_CASE("fatal_exit_message explains a shutdown as a triple fault", "[exit]")
{
    auto message = fatal_exit_message(ShutdownExit {});
    REQUIRE(message.has_value());
    CHECK_THAT(*message, Catch::StartsWith("KVM_EXIT_SHUTDOWN") && Catch::Contains("triple"));
}

TEST_CASE("fatal_exit_message for a failed entry shows the hardware reason in hex", "[exit]")
{
    auto message = fatal_exit_message(FailEntryExit { 0x8000'0021 });
    REQUIRE(message.has_value());
    CHECK_THAT(*message, Catch::StartsWith("KVM_EXIT_FAIL_ENTRY") && Catch::Contains("0x80000021"));
}

TEST_CASE("fatal_exit_message for an emulation failure blames KVM's instruction emulator", "[exit]")
{
    auto message = fatal_exit_message(InternalErrorExit { KVM_INTERNAL_ERROR_EMULATION });
    REQUIRE(message.has_value());
    CHECK_THAT(*message, Catch::StartsWith("KVM_EXIT_INTERNAL_ERROR") && Catch::Contains("emulator"));

    auto other = fatal_exit_message(InternalErrorExit { 999 });
    REQUIRE(other.has_value());
    CHECK_THAT(*other, Catch::Contains("999") && !Catch::Contains("emulator"));
}

TEST_CASE("ExitCounter counts exits by name and totals them", "[exit_counter]")
{
    ExitCounter counter;
    for (int i = 0; i < 23; ++i)
        counter.count(an_io_exit);
    counter.count(HaltExit {});

    CHECK(counter.total() == 24);
    CHECK(counter.of("KVM_EXIT_IO") == 23);
    CHECK(counter.of("KVM_EXIT_HLT") == 1);
    CHECK(counter.of("KVM_EXIT_MMIO") == 0);
    CHECK(counter.counts().size() == 2);
}

TEST_CASE("ExitCounter summary lists the counts in name order, then the total", "[exit_counter]")
{
    ExitCounter counter;
    CHECK(counter.summary() == "(total 0)");
    counter.count(an_io_exit);
    counter.count(HaltExit {});
    counter.count(an_io_exit);
    CHECK(counter.summary() == "KVM_EXIT_HLT=1 KVM_EXIT_IO=2 (total 3)");
}
