#pragma once
/// @file
/// Device interrupt outputs wired to KVM's in-kernel interrupt controllers.

#include <stepvmm/io/device.hpp>
#include <stepvmm/os/event_fd.hpp>

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
/// no VMM code on the vCPU thread. Edges only: a level-triggered line would also need a
/// resample fd (KVM_IRQFD_FLAG_RESAMPLE) to learn when the guest acknowledged it.
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

} // namespace stepvmm
