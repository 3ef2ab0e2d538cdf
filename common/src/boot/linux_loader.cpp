#include <stepvmm/boot/elf_loader.hpp>
#include <stepvmm/boot/linux_loader.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <algorithm>
#include <cstring>
#include <elf.h>
#include <fmt/format.h>

namespace stepvmm::boot {

namespace {

constexpr std::uint64_t page_size = 4096;

// The kernel's own default for initrd_addr_max on x86-64 (and what a vmlinux, which has no
// header to say otherwise, gets).
constexpr std::uint32_t default_initrd_addr_max = 0x7fffffff;
// Before protocol 2.06 the command line limit was 255 (boot.rst, cmdline_size); a vmlinux
// has no header, so it is held to the 2048 bytes x86-64 kernels accept (COMMAND_LINE_SIZE).
constexpr std::uint32_t elf_cmdline_size = 2047;

std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

bool is_elf(std::span<const std::uint8_t> image)
{
    return image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

// The RAM region the boot structures and the kernel live in: the one starting at 0.
const GuestRegion& low_region(const GuestMemory& memory)
{
    for (const GuestRegion& region : memory.regions()) {
        if (region.range.guest_physical_address == 0)
            return region;
    }
    throw UserError("guest RAM does not start at address 0: there is nowhere to put boot_params");
}

}

std::optional<std::uint64_t> place_initrd(std::uint64_t size, std::uint64_t lowest, std::uint64_t ram_end, std::uint64_t initrd_addr_max)
{
    std::uint64_t top = std::min(ram_end, initrd_addr_max + 1);
    if (size == 0 || size > top)
        return std::nullopt;
    std::uint64_t address = (top - size) & ~(page_size - 1);
    if (address < lowest)
        return std::nullopt;
    return address;
}

std::uint64_t bzimage_footprint_end(const SetupHeader& header, std::uint64_t load_address, std::uint64_t image_size)
{
    std::uint64_t runtime_start = header.relocatable_kernel ? align_up(load_address, header.kernel_alignment) : header.pref_address;
    runtime_start = std::max(runtime_start, header.pref_address);
    return std::max(load_address + image_size, runtime_start + header.init_size);
}

LoadedLinux load_linux(const GuestMemory& memory, std::span<const std::uint8_t> kernel, std::string_view kernel_name,
    std::optional<std::span<const std::uint8_t>> initrd, std::string_view command_line, const LinuxLoadAddresses& addresses)
{
    LoadedLinux loaded;
    const GuestRegion& low = low_region(memory);
    std::uint64_t low_end = low.range.end();
    loaded.boot_params_address = addresses.boot_params;
    loaded.boot_stack_top = addresses.boot_stack_top;
    loaded.command_line_address = addresses.command_line;
    loaded.command_line = std::string(command_line);
    loaded.e820 = pc_e820_map([&] {
        std::vector<RamRange> ranges;
        for (const GuestRegion& region : memory.regions())
            ranges.push_back(region.range);
        return ranges;
    }());

    std::optional<BzImage> bzimage;
    std::uint32_t cmdline_size = elf_cmdline_size;
    std::uint32_t initrd_addr_max = default_initrd_addr_max;
    if (is_elf(kernel)) {
        loaded.format = KernelFormat::Elf;
    } else {
        bzimage = parse_bzimage(kernel, kernel_name);
        loaded.header = bzimage->header;
        cmdline_size = bzimage->header.cmdline_size;
        initrd_addr_max = bzimage->header.initrd_addr_max;
    }

    // Check everything before writing anything.
    if (command_line.size() > cmdline_size || command_line.size() + 1 > addresses.command_line_area)
        throw UserError(fmt::format("the kernel command line is {} bytes; this kernel takes at most {} (cmdline_size)",
            command_line.size(), std::min<std::uint64_t>(cmdline_size, addresses.command_line_area - 1)));
    if (!memory.translate(addresses.command_line, command_line.size() + 1) || !memory.translate(addresses.boot_params, zero_page::size))
        throw UserError("guest RAM is too small for boot_params and the command line");

    if (bzimage) {
        loaded.kernel_address = addresses.kernel;
        loaded.kernel_size = bzimage->protected_mode.size();
        loaded.kernel_footprint_end = bzimage_footprint_end(bzimage->header, loaded.kernel_address, loaded.kernel_size);
        // boot.rst, "64-bit Boot Protocol": the entry is the load address plus 0x200.
        loaded.entry = loaded.kernel_address + setup_constant::entry_64_offset;
        if (loaded.kernel_footprint_end > low_end)
            throw UserError(fmt::format("kernel image {}: needs RAM up to {:#x} to decompress (init_size {:#x} from {:#x}), "
                                        "but low RAM ends at {:#x}; give the guest more memory",
                kernel_name, loaded.kernel_footprint_end, bzimage->header.init_size,
                std::max(bzimage->header.pref_address, loaded.kernel_address), low_end));
    }

    if (initrd) {
        std::uint64_t lowest = loaded.format == KernelFormat::BzImage ? loaded.kernel_footprint_end : 0;
        if (loaded.format == KernelFormat::Elf) {
            // The ELF's extent is only known once parsed; load_elf64 validates before copying,
            // so load it now and fail on the initrd afterwards if need be.
            auto image = load_elf64(memory, kernel, kernel_name);
            loaded.kernel_address = image.lowest_gpa;
            loaded.kernel_size = image.highest_gpa - image.lowest_gpa;
            loaded.kernel_footprint_end = image.highest_gpa;
            loaded.entry = image.entry;
            lowest = image.highest_gpa;
        }
        auto address = place_initrd(initrd->size(), align_up(lowest, page_size), low_end, initrd_addr_max);
        if (!address)
            throw UserError(fmt::format("the initrd ({} bytes) does not fit between the kernel's end at {:#x} and the end "
                                        "of usable low RAM at {:#x}; give the guest more memory",
                initrd->size(), lowest, std::min<std::uint64_t>(low_end, std::uint64_t { initrd_addr_max } + 1)));
        loaded.initrd_address = *address;
        loaded.initrd_size = initrd->size();
    }

    // Now write.
    if (bzimage) {
        memory.write_bytes(loaded.kernel_address, bzimage->protected_mode);
    } else if (!initrd) {
        auto image = load_elf64(memory, kernel, kernel_name);
        loaded.kernel_address = image.lowest_gpa;
        loaded.kernel_size = image.highest_gpa - image.lowest_gpa;
        loaded.kernel_footprint_end = image.highest_gpa;
        // vmlinux's e_entry is phys_startup_64, the physical address of startup_64, which
        // takes the same entry state as the bzImage's 64-bit entry (boot_params in RSI).
        loaded.entry = image.entry;
    }
    if (initrd)
        memory.write_bytes(loaded.initrd_address, *initrd);

    std::vector<std::uint8_t> command_line_bytes(command_line.begin(), command_line.end());
    command_line_bytes.push_back(0);
    memory.write_bytes(loaded.command_line_address, command_line_bytes);

    BootParamsInput input;
    if (bzimage)
        input.setup_header = bzimage->header_bytes;
    input.command_line_address = loaded.command_line_address;
    input.initrd_address = loaded.initrd_address;
    input.initrd_size = loaded.initrd_size;
    input.e820 = loaded.e820;
    auto params = build_boot_params(input);
    if (bzimage) {
        // code32_start: the loaded code's address (boot.rst, relocatable_kernel); informational
        // on the 64-bit path, but the protocol asks a relocating loader to keep it true.
        params.put<std::uint32_t>(setup_offset::code32_start, static_cast<std::uint32_t>(loaded.kernel_address));
    }
    memory.write_bytes(loaded.boot_params_address, params.bytes());
    return loaded;
}

} // namespace stepvmm::boot
