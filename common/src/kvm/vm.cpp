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
