#include <stepvmm/kvm/cpuid.hpp>
#include <stepvmm/kvm/flex_array_ioctls.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/os/ioctl.hpp>

#include <cerrno>
#include <cstring>

namespace stepvmm {

using kvm_abi::CpuidHeader;

// Header and entries in one buffer, laid out as the kernel expects (see flex_array_ioctls.hpp).
class CpuidBuffer {
public:
    explicit CpuidBuffer(std::size_t entries)
        : m_words((sizeof(CpuidHeader) + entries * sizeof(kvm_cpuid_entry2) + 7) / 8, 0)
    {
        header().nent = static_cast<std::uint32_t>(entries);
    }
    CpuidHeader& header() { return *reinterpret_cast<CpuidHeader*>(m_words.data()); }
    kvm_cpuid_entry2* entries() { return reinterpret_cast<kvm_cpuid_entry2*>(&header() + 1); }

private:
    std::vector<std::uint64_t> m_words;
};

CpuidTable CpuidTable::supported_by(const Kvm& kvm)
{
    // KVM answers E2BIG when the buffer is too small; start at KVM_MAX_CPUID_ENTRIES (256)
    // and grow until it fits (api.rst §4.46).
    for (std::size_t capacity = 256;; capacity *= 2) {
        CpuidBuffer buffer(capacity);
        try {
            checked_ioctl(kvm.fd(), kvm_abi::get_supported_cpuid, "KVM_GET_SUPPORTED_CPUID", &buffer.header());
        } catch (const SystemError& error) {
            if (error.error_number() == E2BIG && capacity < 8192)
                continue;
            throw;
        }
        CpuidTable table;
        table.m_entries.assign(buffer.entries(), buffer.entries() + buffer.header().nent);
        return table;
    }
}

std::optional<kvm_cpuid_entry2> CpuidTable::find(std::uint32_t function, std::uint32_t index) const
{
    for (const kvm_cpuid_entry2& entry : m_entries) {
        bool indexed = entry.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        if (entry.function == function && (!indexed || entry.index == index))
            return entry;
    }
    return std::nullopt;
}

bool CpuidTable::offers_1g_pages() const
{
    auto extended = find(0x80000001);
    return extended && (extended->edx & (1U << 26));
}

void CpuidTable::apply_to(Vcpu& vcpu) const
{
    CpuidBuffer buffer(m_entries.size());
    std::memcpy(buffer.entries(), m_entries.data(), m_entries.size() * sizeof(kvm_cpuid_entry2));
    checked_ioctl(vcpu.fd(), kvm_abi::set_cpuid2, "KVM_SET_CPUID2", &buffer.header());
}

} // namespace stepvmm
