#pragma once
// The Linux guest the recipe (scripts/build-linux-guest.sh, target linux_guest) builds into
// <build>/guest/linux. The environment variable STEPVMM_LINUX_GUEST_DIR points the tests at
// another directory holding the same file names (a kernel of one's own, say).

#include <optional>
#include <string>

namespace stepvmm::test {

// The directory the tests take the Linux guest from.
std::string linux_guest_directory();

// The path of @p file in that directory, or std::nullopt if it is not there.
std::optional<std::string> find_linux_guest_file(const std::string& file);

// The path of @p file; skips the test, saying how to build it, when it is missing.
std::string require_linux_guest_file(const std::string& file);

}
