#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/x86/gdt.hpp>
#include <stepvmm/x86/long_mode.hpp>

#include <fmt/format.h>

namespace stepvmm::x86 {

void enter_long_mode(Vcpu& vcpu, const GuestMemory& memory, const LongModeConfig& config)
{
    // Map all RAM and at least the 32-bit hole, so devices placed below 4 GiB are reachable.
    std::uint64_t limit = config.identity_map_limit ? config.identity_map_limit : std::max(memory.end(), four_gib);
    std::size_t table_pages = identity_page_table_pages(limit, config.leaf);
    if (table_pages * 4096 > config.page_table_area_size)
        throw UserError(fmt::format("identity map of {} needs {} page-table pages; only {} fit at {:#x}",
            format_size(limit), table_pages, config.page_table_area_size / 4096, config.page_table_address));

    auto tables = build_identity_page_tables(config.page_table_address, limit, config.leaf, config.user);
    for (const PageTablePage& page : tables.pages)
        memory.write(page.guest_physical_address, page.entries);

    kvm_sregs sregs = vcpu.special_registers();
    sregs.gdt.base = config.gdt_address;
    if (config.gdt == GdtLayout::LinuxBoot) {
        auto gdt = linux_boot_gdt();
        memory.write(config.gdt_address, gdt);
        sregs.gdt.limit = static_cast<std::uint16_t>(sizeof(gdt) - 1);
    } else {
        auto gdt = flat_gdt();
        memory.write(config.gdt_address, gdt);
        sregs.gdt.limit = static_cast<std::uint16_t>(sizeof(gdt) - 1);
    }
    std::uint16_t code_selector = config.gdt == GdtLayout::LinuxBoot ? linux_boot_selector::code : selector::kernel_code;
    std::uint16_t data_selector = config.gdt == GdtLayout::LinuxBoot ? linux_boot_selector::data : selector::kernel_data;
    // Both layouts hold the same flat descriptors, only at different selectors.
    auto descriptors = flat_gdt_descriptors();
    sregs.cs = descriptors[selector::kernel_code >> 3].to_kvm_segment(code_selector);
    kvm_segment data = descriptors[selector::kernel_data >> 3].to_kvm_segment(data_selector);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    // Long mode = PAE paging + EFER.LME + CR0.PG; KVM expects LMA set too when state is loaded
    // directly rather than reached by a guest mode switch (api.rst, KVM_SET_SREGS).
    sregs.cr3 = tables.cr3();
    sregs.cr4 = bits::cr4_pae;
    sregs.cr0 = bits::cr0_pe | bits::cr0_mp | bits::cr0_et | bits::cr0_ne | bits::cr0_wp | bits::cr0_pg;
    sregs.efer = bits::efer_lme | bits::efer_lma | bits::efer_sce;
    vcpu.set_special_registers(sregs);
}

} // namespace stepvmm::x86
