#pragma once
/// @file
/// Segment descriptors (Intel SDM Vol. 3A §3.4.5) and the flat 64-bit GDT stepvmm guests use.

#include <array>
#include <cstdint>
#include <linux/kvm.h>

namespace stepvmm::x86 {

/// The fields of one code or data segment descriptor, before packing.
struct SegmentDescriptor {
    std::uint32_t base = 0;
    std::uint32_t limit = 0xfffff; ///< 20 bits; in 4 KiB units when granularity is set
    std::uint8_t type = 0;         ///< 4 bits: 0xb = code execute/read accessed, 0x3 = data read/write accessed
    bool code_or_data = true;      ///< S flag: 1 for code/data, 0 for system (TSS, LDT)
    std::uint8_t privilege = 0;    ///< DPL, 0..3
    bool present = true;
    bool long_mode = false;        ///< L flag: 64-bit code segment
    bool default_32bit = false;    ///< D/B flag: must be 0 when L is 1
    bool granularity_4k = true;    ///< G flag

    /// Packs the descriptor into the 8-byte layout the CPU reads from the GDT.
    [[nodiscard]] std::uint64_t encode() const;
    /// Unpacks an 8-byte descriptor (the inverse of encode()).
    [[nodiscard]] static SegmentDescriptor decode(std::uint64_t raw);
    /// The hidden part of a segment register as KVM_SET_SREGS wants it.
    [[nodiscard]] kvm_segment to_kvm_segment(std::uint16_t selector) const;
};

/// Selectors of the flat GDT. The order is fixed by SYSCALL/SYSRET (SDM Vol. 2B, SYSRET):
/// with STAR[63:48] = 0x10, SYSRET loads SS = 0x18|3 and CS = 0x20|3; with STAR[47:32] = 0x08,
/// SYSCALL loads CS = 0x08 and SS = 0x10.
namespace selector {
inline constexpr std::uint16_t kernel_code = 0x08;
inline constexpr std::uint16_t kernel_data = 0x10;
inline constexpr std::uint16_t user_data = 0x18 | 3;
inline constexpr std::uint16_t user_code = 0x20 | 3;
}

/// Number of 8-byte entries in the flat GDT (null, kernel code/data, user data/code).
inline constexpr std::size_t flat_gdt_entries = 5;

/// The descriptors of the flat 64-bit GDT, indexed by selector >> 3.
[[nodiscard]] std::array<SegmentDescriptor, flat_gdt_entries> flat_gdt_descriptors();

/// flat_gdt_descriptors() packed, ready to copy into guest memory.
[[nodiscard]] std::array<std::uint64_t, flat_gdt_entries> flat_gdt();

/// Selectors the Linux boot protocol fixes (Documentation/arch/x86/boot.rst, "64-bit Boot
/// Protocol"): the kernel is entered with CS = __BOOT_CS and DS = ES = SS = __BOOT_DS.
namespace linux_boot_selector {
inline constexpr std::uint16_t code = 0x10; ///< __BOOT_CS
inline constexpr std::uint16_t data = 0x18; ///< __BOOT_DS
}

/// Number of entries in the Linux boot GDT (two null entries, then __BOOT_CS and __BOOT_DS).
inline constexpr std::size_t linux_boot_gdt_entries = 4;

/// The descriptors of the GDT a Linux kernel is entered with, indexed by selector >> 3: 4 GiB
/// flat segments, code execute/read (64-bit), data read/write. Entry 1 stays null, as in the
/// kernel's own boot GDT, so the selectors land where boot.rst says.
[[nodiscard]] std::array<SegmentDescriptor, linux_boot_gdt_entries> linux_boot_gdt_descriptors();

/// linux_boot_gdt_descriptors() packed.
[[nodiscard]] std::array<std::uint64_t, linux_boot_gdt_entries> linux_boot_gdt();

} // namespace stepvmm::x86
