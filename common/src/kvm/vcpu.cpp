#include <stepvmm/kvm/flex_array_ioctls.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/os/ioctl.hpp>

#include <cerrno>
#include <fmt/format.h>
#include <sys/mman.h>

namespace stepvmm {

Vcpu::Vcpu(UniqueFd fd, std::size_t run_area_size)
    : m_fd(std::move(fd))
    , m_run_area(Mapping::map(run_area_size, PROT_READ | PROT_WRITE, MAP_SHARED, m_fd.get(), 0,
          "kvm_run area"))
{
}

VcpuExit Vcpu::run()
{
    // Not checked_ioctl: EINTR is an expected outcome here (a signal for statistics or a
    // shutdown request), not something to retry behind the caller's back.
    if (::ioctl(m_fd.get(), KVM_RUN, 0) < 0) {
        if (errno == EINTR) {
            // Whoever set immediate_exit has been heard; let the next KVM_RUN enter the guest.
            run_area().immediate_exit = 0;
            return InterruptedExit {};
        }
        throw SystemError("KVM_RUN", errno);
    }
    kvm_run& run = run_area();
    auto* base = m_run_area.data();
    switch (run.exit_reason) {
    case KVM_EXIT_IO: {
        auto length = static_cast<std::size_t>(run.io.size) * run.io.count;
        return IoExit {
            run.io.direction == KVM_EXIT_IO_OUT ? AccessDirection::Write : AccessDirection::Read,
            run.io.port, run.io.size, run.io.count, { base + run.io.data_offset, length } };
    }
    case KVM_EXIT_MMIO:
        return MmioExit { run.mmio.is_write ? AccessDirection::Write : AccessDirection::Read,
            run.mmio.phys_addr, { run.mmio.data, run.mmio.len } };
    case KVM_EXIT_HLT:
        return HaltExit {};
    case KVM_EXIT_SHUTDOWN:
        return ShutdownExit {};
    case KVM_EXIT_FAIL_ENTRY:
        return FailEntryExit { run.fail_entry.hardware_entry_failure_reason };
    case KVM_EXIT_INTERNAL_ERROR:
        return InternalErrorExit { run.internal.suberror };
    default:
        return OtherExit { run.exit_reason };
    }
}

kvm_regs Vcpu::registers() const
{
    kvm_regs registers {};
    STEPVMM_IOCTL(m_fd.get(), KVM_GET_REGS, &registers);
    return registers;
}

void Vcpu::set_registers(const kvm_regs& registers) { STEPVMM_IOCTL(m_fd.get(), KVM_SET_REGS, &registers); }

kvm_sregs Vcpu::special_registers() const
{
    kvm_sregs special_registers {};
    STEPVMM_IOCTL(m_fd.get(), KVM_GET_SREGS, &special_registers);
    return special_registers;
}

void Vcpu::set_special_registers(const kvm_sregs& special_registers)
{
    STEPVMM_IOCTL(m_fd.get(), KVM_SET_SREGS, &special_registers);
}

using OneMsr = kvm_abi::WithEntries<kvm_abi::MsrsHeader, kvm_msr_entry, 1>;

void Vcpu::set_msr(std::uint32_t index, std::uint64_t value)
{
    OneMsr msrs;
    msrs.header.nmsrs = 1;
    msrs.entries[0].index = index;
    msrs.entries[0].data = value;
    // KVM_SET_MSRS returns how many it set; fewer than asked means the MSR was refused.
    if (checked_ioctl(m_fd.get(), kvm_abi::set_msrs, "KVM_SET_MSRS", &msrs) != 1)
        throw SystemError(fmt::format("KVM_SET_MSRS (msr {:#x})", index), EINVAL);
}

std::uint64_t Vcpu::msr(std::uint32_t index) const
{
    OneMsr msrs;
    msrs.header.nmsrs = 1;
    msrs.entries[0].index = index;
    if (checked_ioctl(m_fd.get(), kvm_abi::get_msrs, "KVM_GET_MSRS", &msrs) != 1)
        throw SystemError(fmt::format("KVM_GET_MSRS (msr {:#x})", index), EINVAL);
    return msrs.entries[0].data;
}

std::optional<std::uint64_t> Vcpu::tsc_khz() const
{
    int khz = ::ioctl(m_fd.get(), KVM_GET_TSC_KHZ, 0);
    if (khz <= 0)
        return std::nullopt;
    return static_cast<std::uint64_t>(khz);
}

static std::string format_segment(const char* name, const kvm_segment& segment)
{
    return fmt::format("{:<3} sel={:#06x} base={:#018x} limit={:#010x} type={:x} dpl={} l={} db={}\n", name,
        segment.selector, segment.base, segment.limit, segment.type, segment.dpl, segment.l, segment.db);
}

std::string Vcpu::dump_registers() const
{
    kvm_regs r = registers();
    kvm_sregs s = special_registers();
    std::string text = fmt::format(
        "rip={:#018x} rsp={:#018x} rflags={:#010x}\n"
        "rax={:#018x} rbx={:#018x} rcx={:#018x} rdx={:#018x}\n"
        "rsi={:#018x} rdi={:#018x} rbp={:#018x}\n"
        "cr0={:#010x} cr2={:#018x} cr3={:#018x} cr4={:#010x} efer={:#x}\n",
        r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, s.cr0, s.cr2, s.cr3,
        s.cr4, s.efer);
    text += format_segment("cs", s.cs);
    text += format_segment("ss", s.ss);
    text += format_segment("ds", s.ds);
    return text;
}

} // namespace stepvmm
