#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/os/ioctl.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/kvm.h>

namespace stepvmm {

// The only stable KVM API version; anything else is a kernel we do not understand (api.rst §4.1).
static constexpr int expected_api_version = 12;

static UniqueFd open_kvm_device(const std::filesystem::path& device)
{
    int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        return UniqueFd(fd);
    int error = errno;
    if (error == ENOENT)
        throw SystemError(fmt::format("open {}", device.string()), error,
            "KVM is not available: load kvm_intel/kvm_amd or run on a host with virtualization");
    if (error == EACCES || error == EPERM)
        throw SystemError(fmt::format("open {}", device.string()), error,
            "no permission: add yourself to the 'kvm' group (sudo usermod -aG kvm $USER) and log in again");
    throw SystemError(fmt::format("open {}", device.string()), error);
}

Kvm::Kvm(const std::filesystem::path& device)
    : m_fd(open_kvm_device(device))
{
    int version = STEPVMM_IOCTL(m_fd.get(), KVM_GET_API_VERSION, 0);
    if (version != expected_api_version)
        throw UserError(fmt::format("KVM_GET_API_VERSION returned {}, expected {}", version,
            expected_api_version));
}

int Kvm::check_extension(long capability) const
{
    return STEPVMM_IOCTL(m_fd.get(), KVM_CHECK_EXTENSION, capability);
}

void Kvm::require_extension(long capability, const char* name) const
{
    if (check_extension(capability) <= 0)
        throw UserError(fmt::format("this KVM lacks the {} capability this chapter needs", name));
}

std::size_t Kvm::vcpu_mmap_size() const
{
    return static_cast<std::size_t>(STEPVMM_IOCTL(m_fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0));
}

KvmFlavor Kvm::detect_flavor(const std::filesystem::path& sys_module)
{
    std::error_code ignored;
    if (std::filesystem::exists(sys_module / "kvm_pvm", ignored))
        return KvmFlavor::Pvm;
    if (std::filesystem::exists(sys_module / "kvm_intel", ignored)
        || std::filesystem::exists(sys_module / "kvm_amd", ignored))
        return KvmFlavor::HardwareAssisted;
    return KvmFlavor::Unknown;
}

std::string describe(KvmFlavor flavor)
{
    switch (flavor) {
    case KvmFlavor::HardwareAssisted:
        return "hardware-assisted KVM (VMX/SVM)";
    case KvmFlavor::Pvm:
        return "kvm_pvm: guest kernel mode is emulated by KVM (~1000x slower ring 0, native ring 3)";
    case KvmFlavor::Unknown:
        break;
    }
    return "unknown KVM implementation";
}

} // namespace stepvmm
