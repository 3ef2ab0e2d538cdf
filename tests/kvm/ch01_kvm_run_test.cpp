// Chapter 01 end to end: the real-mode guest's greeting reaches the console, and the exit
// trace shows exactly one IO exit per byte and one HLT.

#include <catch2/catch.hpp>
#include <process.hpp>
#include <skip.hpp>

#include <cstdio>
#include <fstream>
#include <string>

using namespace stepvmm::test;

static const std::string greeting = "Hello from real mode!\n";

TEST_CASE("ch01 prints the guest's greeting and one IO exit per byte", "[ch01]")
{
    require_kvm();
    auto result = run_process({ chapter_binary("ch01_kvm_run") });
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("guest console: " + greeting) != std::string::npos);
    CHECK(count_lines_containing(result.out, "KVM_EXIT_IO      out port 0x3f8 size 1") == greeting.size());
    CHECK(count_lines_containing(result.out, "KVM_EXIT_HLT") >= 1);
    CHECK(result.out.find("exits: KVM_EXIT_HLT=1 KVM_EXIT_IO=22 (total 23)") != std::string::npos);
}

// A guest written by the test: load an empty IDT, switch CR0.PE on, execute UD2. The #UD
// cannot be delivered through a zero-limit IDT, nor can the #GP and #DF that follow: the CPU
// triple-faults and KVM reports KVM_EXIT_SHUTDOWN.
TEST_CASE("ch01 reports a triple fault with the registers and a non-zero exit", "[ch01]")
{
    require_kvm();
    std::string path = std::string(STEPVMM_GUEST_DIR) + "/test_triple_fault.bin";
    const unsigned char image[] = {
        0x0f, 0x01, 0x1e, 0x12, 0x7c, // lidt [0x7c12]
        0x0f, 0x20, 0xc0,             // mov eax, cr0
        0x66, 0x83, 0xc8, 0x01,       // or eax, 1 (PE)
        0x0f, 0x22, 0xc0,             // mov cr0, eax
        0x0f, 0x0b,                   // ud2 at 0x7c0f
        0xf4,                         // hlt (never reached)
        0, 0, 0, 0, 0, 0,             // 0x7c12: IDT limit 0, base 0
    };
    {
        std::ofstream file(path, std::ios::binary);
        file.write(reinterpret_cast<const char*>(image), sizeof(image));
    }
    auto result = run_process({ chapter_binary("ch01_kvm_run"), "--guest", path, "--timeout", "10" });
    std::remove(path.c_str());
    INFO(result.out << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 2);
    CHECK(result.out.find("KVM_EXIT_SHUTDOWN") != std::string::npos);
    CHECK(result.err.find("rip=0x0000000000007c0f") != std::string::npos);
    CHECK(count_lines_containing(result.err, "ch01_kvm_run: guest error:") == 1);
}

TEST_CASE("ch01 stops a guest that never exits after its timeout", "[ch01]")
{
    require_kvm();
    std::string path = std::string(STEPVMM_GUEST_DIR) + "/test_spin.bin";
    unsigned char image[] = { 0xeb, 0xfe }; // jmp $
    {
        std::ofstream file(path, std::ios::binary);
        file.write(reinterpret_cast<const char*>(image), sizeof(image));
    }
    auto result = run_process({ chapter_binary("ch01_kvm_run"), "--guest", path, "--timeout", "1" }, std::chrono::seconds(30));
    std::remove(path.c_str());
    INFO(result.out << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("did not halt within 1 s") != std::string::npos);
}
