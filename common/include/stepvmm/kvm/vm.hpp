#pragma once
/// @file
/// A KVM virtual machine: memory slots, dirty logging and vCPU creation.

#include <stepvmm/os/unique_fd.hpp>

#include <cstdint>
#include <optional>
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

/// The address space an ioeventfd listens in.
enum class IoSpace {
    Pio,  ///< guest OUT to a port
    Mmio, ///< guest store to a guest-physical address
};

/// What a guest write must carry to trigger an ioeventfd (KVM_IOEVENTFD_FLAG_DATAMATCH).
struct IoEventFdMatch {
    IoSpace space;
    std::uint64_t address;
    std::uint32_t length;                   ///< 1, 2, 4 or 8 bytes (0: any length, MMIO only)
    std::optional<std::uint64_t> datamatch; ///< only this value triggers; std::nullopt: any value
};

class GsiRoutingTable;

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

    /// KVM_CREATE_IRQCHIP: an in-kernel PC interrupt controller set — two 8259 PICs, an
    /// IOAPIC, and a local APIC per vCPU — with the default routing of GSI 0-15 to the PICs
    /// and GSI 0-23 to the IOAPIC (api.rst §4.24). Call before creating vCPUs.
    void create_irqchip();

    /// KVM_CREATE_PIT2: an in-kernel 8254 timer on ports 0x40-0x43 driving GSI 0 (§4.71).
    void create_pit();

    /// KVM_IRQ_LINE: sets the level of an interrupt line from the VMM (§4.25).
    void set_irq_line(std::uint32_t gsi, bool level);

    /// KVM_IRQFD: a write to @p event_fd injects an edge on @p gsi without a VMM round trip
    /// (§4.75). The fd stays owned by the caller; unassign before closing it.
    void assign_irqfd(int event_fd, std::uint32_t gsi);
    /// KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE (§4.75, needs the in-kernel irqchip): a write to
    /// @p event_fd raises @p gsi and KVM holds it high until the guest EOIs it; then KVM lowers
    /// it and signals @p resample_fd, and the VMM raises it again if the device still wants
    /// service. That is a level-triggered line with no ioctl per change. Undo with
    /// unassign_irqfd (the flag is only needed to assign).
    void assign_resampling_irqfd(int event_fd, int resample_fd, std::uint32_t gsi);
    void unassign_irqfd(int event_fd, std::uint32_t gsi);

    /// KVM_IOEVENTFD: a matching guest write signals @p event_fd inside KVM and resumes the
    /// guest at once, instead of exiting to the VMM (§4.59).
    void assign_ioeventfd(int event_fd, const IoEventFdMatch& match);
    void unassign_ioeventfd(int event_fd, const IoEventFdMatch& match);

    /// KVM_SET_GSI_ROUTING: replaces the whole routing table (§4.52).
    void set_gsi_routing(const GsiRoutingTable& table);

private:
    UniqueFd m_fd;
    std::size_t m_vcpu_mmap_size;
};

/// Turns a KVM dirty bitmap of a slot into the guest-physical addresses of the dirty pages.
[[nodiscard]] std::vector<std::uint64_t> dirty_pages_from_bitmap(
    const std::vector<std::uint64_t>& bitmap, std::uint64_t slot_base, std::uint64_t slot_size);

} // namespace stepvmm
