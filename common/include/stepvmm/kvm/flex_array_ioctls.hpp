#pragma once
/// @file
/// Correct C++ layouts for the KVM ioctls whose argument ends in a flexible array.
///
/// Linux's uapi headers before 6.5 (Debian 12 ships 6.1) expand __DECLARE_FLEX_ARRAY in C++ to
/// a one-byte empty struct followed by the array. That moves the array (kvm_cpuid2::entries
/// sits at offset 12 instead of 8) and changes sizeof, which is encoded in the ioctl number:
/// KVM_GET_SUPPORTED_CPUID then fails with EINVAL. Fixed upstream by "uapi: stddef.h: Fix
/// __DECLARE_FLEX_ARRAY for C++". We declare the fixed-size headers ourselves and derive the
/// ioctl numbers from them, exactly as the C definitions in <linux/kvm.h> do.

#include <cstdint>
#include <linux/kvm.h>

namespace stepvmm::kvm_abi {

/// struct kvm_cpuid2 without its entries (api.rst §4.46, §4.20).
struct CpuidHeader {
    std::uint32_t nent;
    std::uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8);

/// struct kvm_msrs without its entries (api.rst §4.18, §4.19).
struct MsrsHeader {
    std::uint32_t nmsrs;
    std::uint32_t pad;
};
static_assert(sizeof(MsrsHeader) == 8);

/// struct kvm_irq_routing without its entries (api.rst §4.52).
struct IrqRoutingHeader {
    std::uint32_t nr;
    std::uint32_t flags;
};
static_assert(sizeof(IrqRoutingHeader) == 8);

inline constexpr unsigned long get_supported_cpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long set_cpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
inline constexpr unsigned long get_msrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long set_msrs = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long set_gsi_routing = _IOW(KVMIO, 0x6a, IrqRoutingHeader);

/// A header followed by @p Capacity entries, laid out as the kernel reads it.
template<typename Header, typename Entry, std::size_t Capacity>
struct WithEntries {
    Header header {};
    Entry entries[Capacity] {};
};

} // namespace stepvmm::kvm_abi
