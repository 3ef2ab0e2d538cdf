// A real peer for chapter 06's guest driver: QEMU's own virtio-blk-pci. The same guest image
// the chapter runs starts under `qemu-system-x86_64 -kernel` through its PVH entry (TCG, no KVM
// needed), negotiates with QEMU's device, writes its pattern, flushes, reads it back — and this
// test checks the disk file QEMU wrote. If our driver only worked against our own device, this
// is where it would show.

#include <ch06_virtio_blk_abi.h>
#include <catch2/catch.hpp>
#include <process.hpp>
#include <skip.hpp>
#include <temporary_file.hpp>

#include <algorithm>
#include <filesystem>
#include <linux_guest.hpp>
#include <string>
#include <vector>

using namespace stepvmm::test;

TEST_CASE("peer: the chapter 06 guest drives QEMU's virtio-blk-pci and its pattern is on the disk", "[peer][ch06]")
{
    const char* qemu = "/usr/bin/qemu-system-x86_64";
    if (!std::filesystem::exists(qemu))
        skip_test("qemu-system-x86_64 is not installed (scripts/install-deps.sh installs qemu-system-x86)");
    TemporaryFile disk(std::vector<std::uint8_t>(16 << 20, 0));
    auto result = run_process({ qemu, "-M", "q35", "-m", "256M", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
                                  "-kernel", STEPVMM_GUEST_DIR "/guest_ch06_virtio_blk.elf", "-drive",
                                  "file=" + disk.path() + ",if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on",
                                  "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04" },
        std::chrono::seconds(120));
    INFO(result.out << result.err);
    // isa-debug-exit: the guest's DONE 0 becomes exit status 1 (value * 2 + 1).
    REQUIRE(result.exit_code == 1);
    CHECK(result.out.find("ucall report 0 pattern_mismatches") != std::string::npos);
    CHECK(result.out.find("ucall done 0") != std::string::npos);
    auto bytes = disk.contents();
    bool pattern = true;
    for (std::size_t offset = CH06_PATTERN_FIRST_SECTOR * 512ULL; offset < (CH06_PATTERN_FIRST_SECTOR + 256) * 512ULL; ++offset)
        pattern = pattern && bytes[offset] == ch06_pattern_byte(1, offset);
    CHECK(pattern);
}

TEST_CASE("peer: the Linux guest's disk test makes an ext2 file system on QEMU's virtio-blk", "[peer][linux]")
{
    const char* qemu = "/usr/bin/qemu-system-x86_64";
    if (!std::filesystem::exists(qemu))
        skip_test("qemu-system-x86_64 is not installed (scripts/install-deps.sh installs qemu-system-x86)");
    // The same kernel, initramfs and /init chapter 06 boots with --kernel; here QEMU (TCG)
    // provides the virtio-blk-pci device, so the disk path runs even where KVM cannot boot it.
    std::string kernel = require_linux_guest_file("vmlinuz");
    std::string initrd = require_linux_guest_file("initramfs.cpio.gz");
    TemporaryFile disk(std::vector<std::uint8_t>(8 << 20, 0));
    auto result = run_process({ qemu, "-M", "q35", "-m", "512M", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
                                  "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 reboot=k panic=-1 stepvmm.disktest=1",
                                  "-drive", "file=" + disk.path() + ",if=none,id=d0,format=raw", "-device",
                                  "virtio-blk-pci,drive=d0,disable-legacy=on" },
        std::chrono::seconds(240));
    INFO(result.out << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.out.find("stepvmm: loaded virtio_blk") != std::string::npos);
    CHECK(result.out.find("stepvmm: disk vda, 16384 sectors") != std::string::npos);
    CHECK(result.out.find("stepvmm: disk test passed") != std::string::npos);
    auto bytes = disk.contents();
    // The ext2 superblock starts at byte 1024; its magic 0xEF53 is at offset 56 in it.
    CHECK(bytes.at(1024 + 56) == 0x53);
    CHECK(bytes.at(1024 + 57) == 0xef);
    std::string text = "written by stepvmm's Linux guest";
    CHECK(std::search(bytes.begin(), bytes.end(), text.begin(), text.end()) != bytes.end());
}
