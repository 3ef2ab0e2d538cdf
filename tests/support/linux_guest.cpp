#include "linux_guest.hpp"
#include "skip.hpp"

#include <cstdlib>
#include <filesystem>

namespace stepvmm::test {

std::string linux_guest_directory()
{
    if (const char* override_directory = std::getenv("STEPVMM_LINUX_GUEST_DIR"); override_directory && *override_directory)
        return override_directory;
    return STEPVMM_LINUX_GUEST_DIR;
}

std::optional<std::string> find_linux_guest_file(const std::string& file)
{
    std::filesystem::path path = std::filesystem::path(linux_guest_directory()) / file;
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error))
        return std::nullopt;
    return path.string();
}

std::string require_linux_guest_file(const std::string& file)
{
    if (auto path = find_linux_guest_file(file))
        return *path;
    skip_test("the Linux guest's " + file + " is not in " + linux_guest_directory()
        + " (build it with the linux_guest target, or set STEPVMM_LINUX_GUEST_DIR)");
}

}
