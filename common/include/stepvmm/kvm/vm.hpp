#pragma once
/// @file
/// A KVM virtual machine: memory slots, dirty logging and vCPU creation.

#include <stepvmm/os/unique_fd.hpp>

#include <cstdint>
#include <vector>

namespace stepvmm {

class Kvm;
class Vcpu;

/// How KVM may treat a memory slot (KVM API doc §4.35, KVM_SET_USER_MEMORY_REGION flags).
enum class SlotAccess {
    ReadWrite,
    ReadOnly, ///< KVM_MEM_READONLY: guest writes exit to the VMM as MMIO
};

/// Whether KVM records which pages of a slot the guest writes (KVM_MEM_LOG_DIRTY_PAGES).
enum class DirtyLogging {
    Off,
    On,
};

/// One guest-physical range backed by host memory.
struct MemorySlot {
    std::uint32_t slot;
    std::uint64_t guest_physical_address;
    std::uint64_t size;
    void* host_address;
    SlotAccess access = SlotAccess::ReadWrite;
    DirtyLogging dirty_logging = DirtyLogging::Off;
};

/// An open VM fd (KVM_CREATE_VM).
class Vm {
public:
    explicit Vm(const Kvm& kvm);

    [[nodiscard]] int fd() const { return m_fd.get(); }

    /// KVM_SET_USER_MEMORY_REGION; the host range must stay mapped for the VM's lifetime.
    void set_memory_slot(const MemorySlot& slot);

    /// KVM_GET_DIRTY_LOG: returns one bit per 4 KiB page of @p slot and clears KVM's copy,
    /// so each call reports the pages written since the previous call.
    [[nodiscard]] std::vector<std::uint64_t> fetch_dirty_bitmap(const MemorySlot& slot);

    /// KVM_CREATE_VCPU with the given vCPU id.
    [[nodiscard]] Vcpu create_vcpu(unsigned id);

    /// KVM_CHECK_EXTENSION on the VM fd (some capabilities are per VM).
    [[nodiscard]] int check_extension(long capability) const;

private:
    UniqueFd m_fd;
    std::size_t m_vcpu_mmap_size;
};

/// Turns a KVM dirty bitmap of a slot into the guest-physical addresses of the dirty pages.
[[nodiscard]] std::vector<std::uint64_t> dirty_pages_from_bitmap(
    const std::vector<std::uint64_t>& bitmap, std::uint64_t slot_base, std::uint64_t slot_size);

} // namespace stepvmm
