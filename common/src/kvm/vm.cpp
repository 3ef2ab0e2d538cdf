#include <stepvmm/kvm/flex_array_ioctls.hpp>
#include <stepvmm/kvm/gsi_routing.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/os/ioctl.hpp>

#include <linux/kvm.h>

namespace stepvmm {

static constexpr std::uint64_t dirty_page_size = 4096;
static constexpr unsigned bits_per_word = 64;

static std::uint64_t pages_in(std::uint64_t size) { return (size + dirty_page_size - 1) / dirty_page_size; }

Vm::Vm(const Kvm& kvm)
    // Machine type 0 is the default x86 VM (api.rst §4.2).
    : m_fd(STEPVMM_IOCTL(kvm.fd(), KVM_CREATE_VM, 0UL))
    , m_vcpu_mmap_size(kvm.vcpu_mmap_size())
{
}

void Vm::set_memory_slot(const MemorySlot& slot)
{
    kvm_userspace_memory_region region {};
    region.slot = slot.slot;
    region.guest_phys_addr = slot.guest_physical_address;
    region.memory_size = slot.size;
    region.userspace_addr = reinterpret_cast<std::uintptr_t>(slot.host_address);
    if (slot.access == SlotAccess::ReadOnly)
        region.flags |= KVM_MEM_READONLY;
    if (slot.dirty_logging == DirtyLogging::On)
        region.flags |= KVM_MEM_LOG_DIRTY_PAGES;
    STEPVMM_IOCTL(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region);
}

std::vector<std::uint64_t> Vm::fetch_dirty_bitmap(const MemorySlot& slot)
{
    // KVM writes whole 64-bit words: round the page count up (api.rst §4.8).
    std::vector<std::uint64_t> bitmap((pages_in(slot.size) + bits_per_word - 1) / bits_per_word);
    kvm_dirty_log log {};
    log.slot = slot.slot;
    log.dirty_bitmap = bitmap.data();
    STEPVMM_IOCTL(m_fd.get(), KVM_GET_DIRTY_LOG, &log);
    return bitmap;
}

Vcpu Vm::create_vcpu(unsigned id)
{
    UniqueFd vcpu_fd(STEPVMM_IOCTL(m_fd.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id)));
    return Vcpu(std::move(vcpu_fd), m_vcpu_mmap_size);
}

int Vm::check_extension(long capability) const
{
    return STEPVMM_IOCTL(m_fd.get(), KVM_CHECK_EXTENSION, capability);
}

void Vm::create_irqchip() { STEPVMM_IOCTL(m_fd.get(), KVM_CREATE_IRQCHIP, 0UL); }

void Vm::create_pit()
{
    kvm_pit_config config {};
    // With this flag KVM also answers port 0x61 (the speaker/PIT-gate port) with a dummy, so
    // guests that read it while calibrating timers do not exit to the VMM (api.rst §4.71).
    config.flags = KVM_PIT_SPEAKER_DUMMY;
    STEPVMM_IOCTL(m_fd.get(), KVM_CREATE_PIT2, &config);
}

void Vm::set_irq_line(std::uint32_t gsi, bool level)
{
    kvm_irq_level line {};
    line.irq = gsi;
    line.level = level ? 1 : 0;
    STEPVMM_IOCTL(m_fd.get(), KVM_IRQ_LINE, &line);
}

static kvm_irqfd make_irqfd(int event_fd, std::uint32_t gsi, std::uint32_t flags)
{
    kvm_irqfd irqfd {};
    irqfd.fd = static_cast<std::uint32_t>(event_fd);
    irqfd.gsi = gsi;
    irqfd.flags = flags;
    return irqfd;
}

void Vm::assign_irqfd(int event_fd, std::uint32_t gsi)
{
    auto irqfd = make_irqfd(event_fd, gsi, 0);
    STEPVMM_IOCTL(m_fd.get(), KVM_IRQFD, &irqfd);
}

void Vm::assign_resampling_irqfd(int event_fd, int resample_fd, std::uint32_t gsi)
{
    auto irqfd = make_irqfd(event_fd, gsi, KVM_IRQFD_FLAG_RESAMPLE);
    irqfd.resamplefd = static_cast<std::uint32_t>(resample_fd);
    STEPVMM_IOCTL(m_fd.get(), KVM_IRQFD, &irqfd);
}

void Vm::unassign_irqfd(int event_fd, std::uint32_t gsi)
{
    auto irqfd = make_irqfd(event_fd, gsi, KVM_IRQFD_FLAG_DEASSIGN);
    STEPVMM_IOCTL(m_fd.get(), KVM_IRQFD, &irqfd);
}

static kvm_ioeventfd make_ioeventfd(int event_fd, const IoEventFdMatch& match, std::uint32_t extra_flags)
{
    kvm_ioeventfd ioeventfd {};
    ioeventfd.fd = event_fd;
    ioeventfd.addr = match.address;
    ioeventfd.len = match.length;
    ioeventfd.flags = extra_flags;
    if (match.space == IoSpace::Pio)
        ioeventfd.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (match.datamatch) {
        ioeventfd.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        ioeventfd.datamatch = *match.datamatch;
    }
    return ioeventfd;
}

void Vm::assign_ioeventfd(int event_fd, const IoEventFdMatch& match)
{
    auto ioeventfd = make_ioeventfd(event_fd, match, 0);
    STEPVMM_IOCTL(m_fd.get(), KVM_IOEVENTFD, &ioeventfd);
}

void Vm::unassign_ioeventfd(int event_fd, const IoEventFdMatch& match)
{
    auto ioeventfd = make_ioeventfd(event_fd, match, KVM_IOEVENTFD_FLAG_DEASSIGN);
    STEPVMM_IOCTL(m_fd.get(), KVM_IOEVENTFD, &ioeventfd);
}

void Vm::set_gsi_routing(const GsiRoutingTable& table)
{
    auto buffer = table.to_kvm_buffer();
    checked_ioctl(m_fd.get(), kvm_abi::set_gsi_routing, "KVM_SET_GSI_ROUTING", buffer.data());
}

std::vector<std::uint64_t> dirty_pages_from_bitmap(
    const std::vector<std::uint64_t>& bitmap, std::uint64_t slot_base, std::uint64_t slot_size)
{
    std::vector<std::uint64_t> pages;
    std::uint64_t page_count = pages_in(slot_size);
    for (std::uint64_t page = 0; page < page_count && page / bits_per_word < bitmap.size(); ++page) {
        if ((bitmap[page / bits_per_word] >> (page % bits_per_word)) & 1)
            pages.push_back(slot_base + page * dirty_page_size);
    }
    return pages;
}

} // namespace stepvmm
