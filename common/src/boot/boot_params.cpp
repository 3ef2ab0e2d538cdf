#include <stepvmm/boot/boot_params.hpp>
#include <stepvmm/os/system_error.hpp>

#include <fmt/format.h>

namespace stepvmm::boot {

std::vector<E820Entry> BootParams::e820() const
{
    std::vector<E820Entry> entries;
    std::size_t count = std::min<std::size_t>(get<std::uint8_t>(zero_page::e820_entries), zero_page::e820_max_entries);
    for (std::size_t i = 0; i < count; ++i) {
        std::size_t offset = zero_page::e820_table + i * zero_page::e820_entry_size;
        entries.push_back({ get<std::uint64_t>(offset), get<std::uint64_t>(offset + 8),
            static_cast<E820Type>(get<std::uint32_t>(offset + 16)) });
    }
    return entries;
}

// The header a vmlinux ELF lacks: just what the kernel reads from a loader on this path —
// the magic (so it trusts the fields), a protocol version recent enough for cmd_line_ptr and
// the ext_ fields, and the limits the loader itself honoured.
static void synthesise_setup_header(BootParams& params)
{
    params.put<std::uint16_t>(setup_offset::boot_flag, setup_constant::boot_flag);
    params.put<std::uint32_t>(setup_offset::header, setup_constant::header_magic);
    params.put<std::uint16_t>(setup_offset::version, setup_constant::minimum_version);
    params.put<std::uint8_t>(setup_offset::loadflags, setup_constant::loaded_high);
    params.put<std::uint16_t>(setup_offset::xloadflags, setup_constant::xlf_kernel_64);
}

BootParams build_boot_params(const BootParamsInput& input)
{
    BootParams params;
    if (input.setup_header.empty())
        synthesise_setup_header(params);
    else {
        if (input.setup_header.size() > zero_page::e820_table - zero_page::setup_header)
            throw UserError(fmt::format("a setup header of {} bytes does not fit boot_params", input.setup_header.size()));
        params.put_bytes(zero_page::setup_header, input.setup_header);
    }

    // boot.rst, "Details of Header Fields": the fields marked "write (obligatory)".
    params.put<std::uint8_t>(setup_offset::type_of_loader, loader_type_undefined);
    params.put<std::uint16_t>(setup_offset::vid_mode, vid_mode_normal);
    // No real-mode setup code runs on the 64-bit path, so its heap is irrelevant; clear
    // CAN_USE_HEAP rather than claim a heap that does not exist.
    params.put<std::uint8_t>(setup_offset::loadflags,
        static_cast<std::uint8_t>(params.get<std::uint8_t>(setup_offset::loadflags) & ~setup_constant::can_use_heap));
    // cmd_line_ptr must never be 0: the kernel would assume a pre-2.02 loader.
    params.put<std::uint32_t>(setup_offset::cmd_line_ptr, static_cast<std::uint32_t>(input.command_line_address));
    params.put<std::uint32_t>(zero_page::ext_cmd_line_ptr, static_cast<std::uint32_t>(input.command_line_address >> 32));
    params.put<std::uint32_t>(setup_offset::ramdisk_image, static_cast<std::uint32_t>(input.initrd_address));
    params.put<std::uint32_t>(zero_page::ext_ramdisk_image, static_cast<std::uint32_t>(input.initrd_address >> 32));
    params.put<std::uint32_t>(setup_offset::ramdisk_size, static_cast<std::uint32_t>(input.initrd_size));
    params.put<std::uint32_t>(zero_page::ext_ramdisk_size, static_cast<std::uint32_t>(input.initrd_size >> 32));

    if (input.e820.size() > zero_page::e820_max_entries)
        throw UserError(fmt::format("{} e820 entries do not fit boot_params (at most {})", input.e820.size(), zero_page::e820_max_entries));
    params.put<std::uint8_t>(zero_page::e820_entries, static_cast<std::uint8_t>(input.e820.size()));
    for (std::size_t i = 0; i < input.e820.size(); ++i) {
        std::size_t offset = zero_page::e820_table + i * zero_page::e820_entry_size;
        params.put<std::uint64_t>(offset, input.e820[i].address);
        params.put<std::uint64_t>(offset + 8, input.e820[i].size);
        params.put<std::uint32_t>(offset + 16, static_cast<std::uint32_t>(input.e820[i].type));
    }
    return params;
}

} // namespace stepvmm::boot
