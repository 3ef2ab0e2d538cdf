// Chapter 06 with Linux instead of the tiny guest: the recipe's kernel and initramfs boot with
// the disk on virtio-pci. On hardware KVM /init loads virtio_pci and virtio_blk and reports the
// disk (`stepvmm: disk vda, <sectors> sectors`), which must be the file's size, and makes an
// ext2 file system on it with a file (the peer tests run the same /init against QEMU's
// virtio-blk, where this part can run on any host). On kvm_pvm the
// kernel stops early (chapter 05), but not before it has checked our PCI host bridge through
// configuration mechanism #1, which the exit profile shows.
//
// Tagged [slow] like chapter 05's boot: one Linux boot, about 45 s on kvm_pvm.

#include <stepvmm/kvm/kvm.hpp>

#include <catch2/catch.hpp>
#include <linux_guest.hpp>
#include <process.hpp>
#include <skip.hpp>
#include <temporary_file.hpp>

#include <regex>
#include <string>
#include <vector>

using namespace stepvmm;
using namespace stepvmm::test;

TEST_CASE("ch06 boots Linux with the disk on virtio-pci", "[ch06][slow]")
{
    require_kvm();
    bool pvm = Kvm::detect_flavor() == KvmFlavor::Pvm;
    std::string kernel = pvm && find_linux_guest_file("vmlinux") ? require_linux_guest_file("vmlinux") : require_linux_guest_file("vmlinuz");
    std::string initrd = require_linux_guest_file("initramfs.cpio.gz");
    constexpr std::size_t disk_size = 8 << 20;
    TemporaryFile disk(std::vector<std::uint8_t>(disk_size, 0));
    unsigned timeout = pvm ? 240 : 120;
    auto result = run_process({ chapter_binary("ch06_virtio_blk"), "--disk", disk.path(), "--transport", "pci", "--kernel", kernel,
                                  "--initrd", initrd, "--timeout", std::to_string(timeout) },
        std::chrono::seconds(timeout + 60));
    INFO(result.out << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.out.find("Linux version ") != std::string::npos);
    // Linux's conf1 probe found our host bridge (arch/x86/pci/direct.c checks for class 06/00).
    std::smatch probes;
    REQUIRE(std::regex_search(result.out, probes, std::regex(R"(PIO  pci-host\s+reads\s+(\d+)\s+writes\s+(\d+))")));
    CHECK(std::stoul(probes[1].str()) > 0);
    if (pvm) {
        CHECK(result.exit_code == 4);
    } else {
        CHECK(result.exit_code == 0);
        CHECK(result.out.find("stepvmm: loaded virtio_blk") != std::string::npos);
        CHECK(result.out.find("stepvmm: disk vda, " + std::to_string(disk_size / 512) + " sectors") != std::string::npos);
        // /init's disk test (stepvmm.disktest=1, which the chapter adds): an ext2 file system
        // and a file, written through our virtio-blk into the disk image.
        CHECK(result.out.find("stepvmm: disk test passed") != std::string::npos);
        auto bytes = disk.contents();
        CHECK(bytes.at(1024 + 56) == 0x53); // ext2 superblock magic 0xEF53
        CHECK(bytes.at(1024 + 57) == 0xef);
    }
}
