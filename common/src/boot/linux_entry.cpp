#include <stepvmm/boot/linux_entry.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <fmt/format.h>

namespace stepvmm::boot {

x86::LongModeConfig linux_long_mode_config(const LinuxEntryTables& tables)
{
    x86::LongModeConfig config;
    config.gdt_address = tables.gdt;
    config.page_table_address = tables.page_tables;
    config.page_table_area_size = tables.page_table_area;
    config.identity_map_limit = linux_identity_map_limit;
    config.leaf = x86::LeafSize::Size2M; // 1 GiB pages need CPUID pdpe1gb; 2 MiB pages work everywhere
    config.user = x86::UserAccess::Denied;
    config.gdt = x86::GdtLayout::LinuxBoot;
    return config;
}

void enter_linux(Vcpu& vcpu, const GuestMemory& memory, const LoadedLinux& loaded, const LinuxEntryTables& tables)
{
    auto check_mapped = [](const char* what, std::uint64_t address, std::uint64_t size) {
        if (address + size > linux_identity_map_limit)
            throw UserError(fmt::format("the {} at {:#x} lies outside the boot identity map (first 4 GiB)", what, address));
    };
    check_mapped("kernel", loaded.kernel_address, loaded.kernel_footprint_end - loaded.kernel_address);
    check_mapped("initrd", loaded.initrd_address, loaded.initrd_size);
    check_mapped("boot_params", loaded.boot_params_address, zero_page::size);
    check_mapped("command line", loaded.command_line_address, loaded.command_line.size() + 1);

    x86::enter_long_mode(vcpu, memory, linux_long_mode_config(tables));
    kvm_regs registers {};
    registers.rip = loaded.entry;
    registers.rsi = loaded.boot_params_address;
    registers.rsp = loaded.boot_stack_top;
    registers.rflags = 0x2; // bit 1 is reserved-set; IF = 0: "interrupt must be disabled"
    vcpu.set_registers(registers);
}

} // namespace stepvmm::boot
