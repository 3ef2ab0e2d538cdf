#include <stepvmm/x86/gdt.hpp>

namespace stepvmm::x86 {

std::uint64_t SegmentDescriptor::encode() const
{
    // Layout (SDM Vol. 3A, Figure 3-8): limit 15:0 | base 23:0 | type, S, DPL, P |
    // limit 19:16 | AVL, L, D/B, G | base 31:24.
    std::uint64_t raw = 0;
    raw |= static_cast<std::uint64_t>(limit & 0xffff);
    raw |= static_cast<std::uint64_t>(base & 0xffffff) << 16;
    raw |= static_cast<std::uint64_t>(type & 0xf) << 40;
    raw |= static_cast<std::uint64_t>(code_or_data) << 44;
    raw |= static_cast<std::uint64_t>(privilege & 3) << 45;
    raw |= static_cast<std::uint64_t>(present) << 47;
    raw |= static_cast<std::uint64_t>((limit >> 16) & 0xf) << 48;
    raw |= static_cast<std::uint64_t>(long_mode) << 53;
    raw |= static_cast<std::uint64_t>(default_32bit) << 54;
    raw |= static_cast<std::uint64_t>(granularity_4k) << 55;
    raw |= static_cast<std::uint64_t>((base >> 24) & 0xff) << 56;
    return raw;
}

SegmentDescriptor SegmentDescriptor::decode(std::uint64_t raw)
{
    SegmentDescriptor descriptor;
    descriptor.limit = static_cast<std::uint32_t>((raw & 0xffff) | ((raw >> 32) & 0xf0000));
    descriptor.base = static_cast<std::uint32_t>(((raw >> 16) & 0xffffff) | ((raw >> 32) & 0xff000000));
    descriptor.type = static_cast<std::uint8_t>((raw >> 40) & 0xf);
    descriptor.code_or_data = (raw >> 44) & 1;
    descriptor.privilege = static_cast<std::uint8_t>((raw >> 45) & 3);
    descriptor.present = (raw >> 47) & 1;
    descriptor.long_mode = (raw >> 53) & 1;
    descriptor.default_32bit = (raw >> 54) & 1;
    descriptor.granularity_4k = (raw >> 55) & 1;
    return descriptor;
}

kvm_segment SegmentDescriptor::to_kvm_segment(std::uint16_t selector) const
{
    kvm_segment segment {};
    segment.base = base;
    // KVM wants the limit in bytes, already scaled by the granularity bit.
    segment.limit = granularity_4k ? (limit << 12) | 0xfff : limit;
    segment.selector = selector;
    segment.type = type;
    segment.present = present;
    segment.dpl = privilege;
    segment.db = default_32bit;
    segment.s = code_or_data;
    segment.l = long_mode;
    segment.g = granularity_4k;
    return segment;
}

std::array<SegmentDescriptor, flat_gdt_entries> flat_gdt_descriptors()
{
    static constexpr std::uint8_t code_type = 0xb; // execute/read, accessed
    static constexpr std::uint8_t data_type = 0x3; // read/write, accessed
    SegmentDescriptor null_descriptor;
    null_descriptor.limit = 0;
    null_descriptor.code_or_data = false;
    null_descriptor.present = false;
    null_descriptor.granularity_4k = false;

    SegmentDescriptor kernel_code { .type = code_type, .privilege = 0, .long_mode = true };
    SegmentDescriptor kernel_data { .type = data_type, .privilege = 0, .default_32bit = true };
    SegmentDescriptor user_data { .type = data_type, .privilege = 3, .default_32bit = true };
    SegmentDescriptor user_code { .type = code_type, .privilege = 3, .long_mode = true };
    return { null_descriptor, kernel_code, kernel_data, user_data, user_code };
}

std::array<std::uint64_t, flat_gdt_entries> flat_gdt()
{
    std::array<std::uint64_t, flat_gdt_entries> table {};
    auto descriptors = flat_gdt_descriptors();
    for (std::size_t i = 0; i < table.size(); ++i)
        table[i] = descriptors[i].encode();
    return table;
}

std::array<SegmentDescriptor, linux_boot_gdt_entries> linux_boot_gdt_descriptors()
{
    auto flat = flat_gdt_descriptors();
    return { flat[0], flat[0], flat[selector::kernel_code >> 3], flat[selector::kernel_data >> 3] };
}

std::array<std::uint64_t, linux_boot_gdt_entries> linux_boot_gdt()
{
    std::array<std::uint64_t, linux_boot_gdt_entries> table {};
    auto descriptors = linux_boot_gdt_descriptors();
    for (std::size_t i = 0; i < table.size(); ++i)
        table[i] = descriptors[i].encode();
    return table;
}

} // namespace stepvmm::x86
