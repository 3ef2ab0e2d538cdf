// ioeventfd and irqfd against real KVM, below any chapter: a tiny real-mode guest writes to a
// port and to an unbacked address, and the test checks which writes KVM turned into eventfd
// signals (never reaching the VMM) and which still exited.

#include <catch2/catch.hpp>
#include <skip.hpp>

#include <stepvmm/kvm/irq_line.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/event_loop.hpp>
#include <stepvmm/os/mapping.hpp>

#include <chrono>
#include <cstring>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <thread>
#include <vector>

using namespace stepvmm;

namespace {

constexpr std::uint64_t ram_size = 0x10000;
constexpr std::uint64_t load_address = 0x1000;

// A VM with 64 KiB of RAM at 0 and one real-mode vCPU about to run @p code.
struct TinyMachine {
    Kvm kvm;
    Vm vm { kvm };
    Mapping ram = Mapping::map(ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "test RAM");
    std::optional<Vcpu> vcpu;

    explicit TinyMachine(const std::vector<std::uint8_t>& code, bool with_irqchip = false)
    {
        vm.set_memory_slot({ .slot = 0, .guest_physical_address = 0, .size = ram_size, .host_address = ram.data() });
        if (with_irqchip)
            vm.create_irqchip();
        std::memcpy(ram.data() + load_address, code.data(), code.size());
        vcpu.emplace(vm.create_vcpu(0));
        kvm_sregs sregs = vcpu->special_registers();
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        vcpu->set_special_registers(sregs);
        kvm_regs regs {};
        regs.rip = load_address;
        regs.rflags = 2;
        vcpu->set_registers(regs);
    }
};

// Runs until an exit that is not an IO/MMIO write; returns the IO/MMIO writes that exited.
std::vector<std::pair<std::uint64_t, std::uint8_t>> run_collecting_writes(Vcpu& vcpu)
{
    std::vector<std::pair<std::uint64_t, std::uint8_t>> writes;
    for (int guard = 0; guard < 100; ++guard) {
        VcpuExit exit = vcpu.run();
        if (const auto* io = std::get_if<IoExit>(&exit)) {
            if (io->port == 0x3ff) // the guest's "stop" port
                return writes;
            writes.emplace_back(io->port, io->data[0]);
        } else if (const auto* mmio = std::get_if<MmioExit>(&exit)) {
            writes.emplace_back(mmio->guest_physical_address, mmio->data[0]);
        } else if (!std::holds_alternative<InterruptedExit>(exit)) {
            FAIL("unexpected exit " << exit_name(exit));
        }
    }
    FAIL("the guest never reached its stop port");
    return writes;
}

}

TEST_CASE("a PIO ioeventfd with datamatch absorbs matching writes and lets others exit", "[eventfd]")
{
    test::require_kvm();
    TinyMachine machine({
        0xba, 0x00, 0x06,       // mov dx, 0x600
        0xb0, 0x42, 0xee,       // mov al, 0x42; out dx, al   (matches)
        0xb0, 0x41, 0xee,       // mov al, 0x41; out dx, al   (does not)
        0xb0, 0x42, 0xee,       // mov al, 0x42; out dx, al   (matches)
        0xba, 0xff, 0x03, 0xee, // mov dx, 0x3ff; out dx, al  (stop)
    });
    EventFd doorbell;
    IoEventFdMatch match { IoSpace::Pio, 0x600, 1, 0x42 };
    machine.vm.assign_ioeventfd(doorbell.fd(), match);
    auto exited = run_collecting_writes(*machine.vcpu);
    CHECK(exited == std::vector<std::pair<std::uint64_t, std::uint8_t>> { { 0x600, 0x41 } });
    CHECK(doorbell.consume() == 2u); // the counter adds up the two kicks nobody saw exit

    machine.vm.unassign_ioeventfd(doorbell.fd(), match);
}

TEST_CASE("an MMIO ioeventfd without datamatch absorbs every write to its address", "[eventfd]")
{
    test::require_kvm();
    TinyMachine machine({
        0xb8, 0x00, 0x20,             // mov ax, 0x2000
        0x8e, 0xd8,                   // mov ds, ax          (GPA 0x20000: no RAM there)
        0xc6, 0x06, 0x00, 0x00, 0x42, // mov byte [0], 0x42  (absorbed)
        0xc6, 0x06, 0x00, 0x00, 0x41, // mov byte [0], 0x41  (absorbed)
        0xc6, 0x06, 0x04, 0x00, 0x07, // mov byte [4], 0x07  (another address: exits)
        0xba, 0xff, 0x03, 0xee,       // mov dx, 0x3ff; out dx, al (stop)
    });
    EventFd doorbell;
    machine.vm.assign_ioeventfd(doorbell.fd(), { IoSpace::Mmio, 0x20000, 1, std::nullopt });
    auto exited = run_collecting_writes(*machine.vcpu);
    CHECK(exited == std::vector<std::pair<std::uint64_t, std::uint8_t>> { { 0x20004, 0x07 } });
    CHECK(doorbell.consume() == 2u);
}

TEST_CASE("an irqfd raises its interrupt line with no VMM involvement", "[eventfd]")
{
    test::require_kvm();
    TinyMachine machine({ 0xba, 0xff, 0x03, 0xee }, /*with_irqchip=*/true);
    EventFd interrupt;
    machine.vm.assign_irqfd(interrupt.fd(), 5);

    auto master_pic_irr = [&] {
        kvm_irqchip chip {};
        chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
        REQUIRE(::ioctl(machine.vm.fd(), KVM_GET_IRQCHIP, &chip) == 0);
        return chip.chip.pic.irr;
    };
    CHECK((master_pic_irr() & (1u << 5)) == 0);
    interrupt.signal();
    // KVM injects irqfd edges from a kernel work item: give it a moment.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while ((master_pic_irr() & (1u << 5)) == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK((master_pic_irr() & (1u << 5)) != 0);
    machine.vm.unassign_irqfd(interrupt.fd(), 5);
}

TEST_CASE("a resampling irqfd holds a level line until the guest's EOI and raises it again while the device still asks",
    "[eventfd]")
{
    test::require_kvm();
    // OCW2 0x65 is the 8259's "specific EOI for IRQ 5": KVM's PIC lowers the resampling
    // irqfd's GSI and signals its resample fd right inside this guest write.
    TinyMachine machine({
                            0xb0, 0x65, 0xe6, 0x20, // mov al, 0x65; out 0x20, al  (EOI)
                            0xba, 0xff, 0x03, 0xee, // mov dx, 0x3ff; out dx, al   (stop)
                            0xb0, 0x65, 0xe6, 0x20, // EOI again
                            0xba, 0xff, 0x03, 0xee, // stop
                        },
        /*with_irqchip=*/true);
    EventLoop loop;
    LevelIrqFdLine line(machine.vm, loop, 5);

    // The level KVM's PIC sees on pin 5 (last_irr), as opposed to the device's own level.
    auto pin_high = [&] {
        kvm_irqchip chip {};
        chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
        REQUIRE(::ioctl(machine.vm.fd(), KVM_GET_IRQCHIP, &chip) == 0);
        return (chip.chip.pic.last_irr & (1u << 5)) != 0;
    };
    // irqfd triggers are injected from a kernel work item: wait a little for them.
    auto pin_becomes = [&](bool level) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (pin_high() != level && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return pin_high() == level;
    };
    auto serve_resample = [&](std::uint64_t expected) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (line.resample_count() < expected && std::chrono::steady_clock::now() < deadline)
            loop.run_once(std::chrono::milliseconds(10));
        return line.resample_count();
    };

    SECTION("a device that lowered its level before the EOI stays low after it")
    {
        line.set_level(true);
        REQUIRE(pin_becomes(true));
        line.set_level(false); // the guest's InterruptACK, say: no ioctl, KVM's pin stays up...
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(pin_high()); // ...until the EOI
        CHECK(run_collecting_writes(*machine.vcpu).empty());
        CHECK(serve_resample(1) == 1);
        CHECK(!pin_high());
        CHECK(line.reraised_count() == 0);
        CHECK(line.raised_count() == 1);
    }
    SECTION("a device still asserting at the EOI gets its line raised again")
    {
        line.set_level(true);
        REQUIRE(pin_becomes(true));
        line.set_level(true); // still pending: no second trigger
        CHECK(line.raised_count() == 1);
        CHECK(run_collecting_writes(*machine.vcpu).empty());
        CHECK(serve_resample(1) == 1);
        CHECK(line.reraised_count() == 1);
        CHECK(pin_becomes(true));
        // Now the device is drained; the next EOI leaves the line low.
        line.set_level(false);
        CHECK(run_collecting_writes(*machine.vcpu).empty());
        CHECK(serve_resample(2) == 2);
        CHECK(!pin_high());
        CHECK(line.reraised_count() == 1);
    }
}
