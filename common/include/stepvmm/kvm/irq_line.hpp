#pragma once
/// @file
/// Device interrupt outputs wired to KVM's in-kernel interrupt controllers.

#include <stepvmm/io/device.hpp>
#include <stepvmm/os/event_fd.hpp>
#include <stepvmm/os/event_loop.hpp>

#include <atomic>
#include <cstdint>

namespace stepvmm {

class Vm;

/// An interrupt line driven with KVM_IRQ_LINE from whichever thread the device runs on: each
/// level change is one ioctl (a system call, not a VM exit).
class KvmIrqLine final : public io::InterruptLine {
public:
    KvmIrqLine(Vm& vm, std::uint32_t gsi);
    void set_level(bool asserted) override;
    /// How many times the line went from low to high.
    [[nodiscard]] std::uint64_t raised_count() const { return m_raised.load(); }

private:
    Vm& m_vm;
    std::uint32_t m_gsi;
    bool m_level = false;
    std::atomic<std::uint64_t> m_raised { 0 };
};

/// An interrupt line behind an irqfd (api.rst §4.75): a rising edge is one eventfd write, and
/// KVM turns it into an interrupt on the GSI by itself — from any thread, with no ioctl and
/// no VMM code on the vCPU thread. Edges only: a level-triggered line needs LevelIrqFdLine.
class IrqFdLine final : public io::InterruptLine {
public:
    IrqFdLine(Vm& vm, std::uint32_t gsi);
    ~IrqFdLine() override;
    IrqFdLine(const IrqFdLine&) = delete;
    IrqFdLine& operator=(const IrqFdLine&) = delete;

    void set_level(bool asserted) override;
    [[nodiscard]] std::uint64_t raised_count() const { return m_raised.load(); }

private:
    Vm& m_vm;
    std::uint32_t m_gsi;
    EventFd m_event;
    std::atomic<bool> m_level { false };
    std::atomic<std::uint64_t> m_raised { 0 };
};

/// A level-triggered line behind a resampling irqfd (api.rst §4.75, KVM_IRQFD_FLAG_RESAMPLE),
/// the way virtio-mmio and PCI INTx interrupts should be wired: raising it is one eventfd
/// write; lowering it costs nothing at all. KVM holds the GSI high until the guest's EOI,
/// then lowers it and signals the resample fd; the handler on @p loop's thread raises it again
/// if the device still wants service (the guest may EOI before it has drained the device).
/// The device's own register (virtio-mmio InterruptStatus, the INTx ISR) keeps the truth, so
/// a lowered level between trigger and EOI only means KVM's line stays up a little longer —
/// the driver then reads a clear status and returns IRQ_NONE, harmless.
/// Needs the in-kernel irqchip. Threads: set_level from any thread; the loop calls resample().
class LevelIrqFdLine final : public io::InterruptLine {
public:
    LevelIrqFdLine(Vm& vm, EventLoop& loop, std::uint32_t gsi);
    ~LevelIrqFdLine() override;
    LevelIrqFdLine(const LevelIrqFdLine&) = delete;
    LevelIrqFdLine& operator=(const LevelIrqFdLine&) = delete;

    void set_level(bool asserted) override;
    /// How many times the line went from low to high (re-raises after EOI not included).
    [[nodiscard]] std::uint64_t raised_count() const { return m_raised.load(); }
    /// How many times the guest's EOI found the device still asking, so the line went up again.
    [[nodiscard]] std::uint64_t reraised_count() const { return m_reraised.load(); }
    /// How many EOIs KVM reported through the resample fd.
    [[nodiscard]] std::uint64_t resample_count() const { return m_resamples.load(); }

private:
    void resample();

    Vm& m_vm;
    EventLoop& m_loop;
    std::uint32_t m_gsi;
    EventFd m_trigger;
    EventFd m_resample;
    std::atomic<bool> m_level { false };
    std::atomic<std::uint64_t> m_raised { 0 };
    std::atomic<std::uint64_t> m_reraised { 0 };
    std::atomic<std::uint64_t> m_resamples { 0 };
};

} // namespace stepvmm
