#pragma once
/// @file
/// The /dev/kvm system handle: API version, capabilities, and what kind of KVM this host runs.

#include <stepvmm/os/unique_fd.hpp>

#include <filesystem>
#include <string>

namespace stepvmm {

/// Which KVM implementation backs /dev/kvm. Matters to a learner because on kvm_pvm
/// guest kernel mode is run by KVM's instruction emulator (see docs: "About the machines").
enum class KvmFlavor {
    HardwareAssisted, ///< kvm_intel (VMX) or kvm_amd (SVM)
    Pvm,              ///< kvm_pvm: guest ring 0 emulated, ring 3 native
    Unknown,
};

/// Returns a one-line, human description of @p flavor.
std::string describe(KvmFlavor flavor);

/// An open /dev/kvm. Construction checks KVM_GET_API_VERSION == 12 (KVM API doc §4.1).
class Kvm {
public:
    /// Opens @p device; a missing device or no permission becomes one clear SystemError.
    explicit Kvm(const std::filesystem::path& device = "/dev/kvm");

    [[nodiscard]] int fd() const { return m_fd.get(); }

    /// KVM_CHECK_EXTENSION on the system fd: 0 means absent, >0 is capability-specific.
    [[nodiscard]] int check_extension(long capability) const;

    /// Throws a UserError naming @p name when the capability is absent.
    void require_extension(long capability, const char* name) const;

    /// Size of the kvm_run area each vCPU maps (KVM_GET_VCPU_MMAP_SIZE).
    [[nodiscard]] std::size_t vcpu_mmap_size() const;

    /// Detects the KVM implementation from the loaded modules in /sys/module.
    [[nodiscard]] static KvmFlavor detect_flavor(const std::filesystem::path& sys_module = "/sys/module");

private:
    UniqueFd m_fd;
};

} // namespace stepvmm
