#pragma once
/// @file
/// Loading a Linux kernel the way a boot loader does for the 64-bit boot protocol
/// (Documentation/arch/x86/boot.rst): the protected-mode kernel at 1 MiB, the command line and
/// boot_params at fixed low addresses, the initrd as high as the kernel allows, and an e820 map
/// that describes the VM's RAM. Also takes an uncompressed vmlinux ELF, loaded at its physical
/// addresses.

#include <stepvmm/boot/boot_params.hpp>
#include <stepvmm/boot/e820.hpp>
#include <stepvmm/boot/setup_header.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stepvmm {
class GuestMemory;
}

namespace stepvmm::boot {

/// Where the loader puts things. The defaults keep everything the kernel needs at entry in the
/// first 256 KiB, away from the 1 MiB kernel and from the BIOS area that holds the MP table.
struct LinuxLoadAddresses {
    std::uint64_t boot_params = 0x7000;       ///< the zero page (4 KiB)
    std::uint64_t boot_stack_top = 0x9000;    ///< RSP at entry; the protocol needs none, a sane value costs nothing
    std::uint64_t command_line = 0x20000;     ///< below 0xA0000, as boot.rst asks even though 64-bit kernels do not need it
    std::uint64_t command_line_area = 0x10000; ///< room for the command line and its NUL
    std::uint64_t kernel = 0x100000;          ///< bzImage protected-mode code: 1 MiB (boot.rst, "Loading The Rest of The Kernel")
};

/// The two kernel formats accepted.
enum class KernelFormat {
    BzImage, ///< setup sectors + compressed kernel: entered at load address + 0x200
    Elf,     ///< an uncompressed vmlinux: entered at its physical e_entry (startup_64)
};

/// Where everything landed: what the vCPU set-up and the chapter's report need.
struct LoadedLinux {
    KernelFormat format = KernelFormat::BzImage;
    std::optional<SetupHeader> header; ///< bzImage only
    std::uint64_t entry = 0;           ///< 64-bit entry point (guest-physical = virtual under the identity map)
    std::uint64_t boot_params_address = 0;
    std::uint64_t boot_stack_top = 0;
    std::uint64_t kernel_address = 0;
    std::uint64_t kernel_size = 0;     ///< bytes copied
    std::uint64_t kernel_footprint_end = 0; ///< one past the memory the kernel uses before it reads e820
    std::uint64_t command_line_address = 0;
    std::string command_line;
    std::uint64_t initrd_address = 0;  ///< 0 if none
    std::uint64_t initrd_size = 0;
    std::vector<E820Entry> e820;
};

/// Loads @p kernel (a bzImage or a vmlinux ELF, told apart by their magic numbers), @p initrd
/// if given, and @p command_line into @p memory and writes boot_params. Everything is checked
/// before anything is written; UserError says what does not fit (kernel, initrd, command line
/// longer than the kernel's cmdline_size) and how much memory would.
LoadedLinux load_linux(const GuestMemory& memory, std::span<const std::uint8_t> kernel, std::string_view kernel_name,
    std::optional<std::span<const std::uint8_t>> initrd, std::string_view command_line, const LinuxLoadAddresses& addresses = {});

/// Where an initrd of @p size goes: the highest page-aligned address such that it ends at or
/// below both @p initrd_addr_max (the highest byte allowed, boot.rst) and @p ram_end, and
/// starts at or above @p lowest. std::nullopt if there is no such place.
[[nodiscard]] std::optional<std::uint64_t> place_initrd(std::uint64_t size, std::uint64_t lowest, std::uint64_t ram_end,
    std::uint64_t initrd_addr_max);

/// How much memory a bzImage needs from its load address: boot.rst's runtime start
/// (load address aligned up to kernel_alignment for a relocatable kernel, else pref_address)
/// plus init_size. A 64-bit decompressor also never runs below pref_address
/// (LOAD_PHYSICAL_ADDR), so that is a floor.
[[nodiscard]] std::uint64_t bzimage_footprint_end(const SetupHeader& header, std::uint64_t load_address, std::uint64_t image_size);

} // namespace stepvmm::boot
