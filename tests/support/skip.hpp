#pragma once
// Visible skips for Catch2 v2: print the reason and leave with the code ctest maps to "skipped".
// Only valid because every TEST_CASE runs in its own process (catch_discover_tests).

#include <optional>
#include <string>

namespace stepvmm::test {

[[noreturn]] void skip_test(const std::string& reason);

// Why KVM tests cannot run here (no /dev/kvm, no permission), or std::nullopt if they can.
std::optional<std::string> kvm_unavailable_reason();

// Skips the current test unless /dev/kvm can be opened read-write.
void require_kvm();

// Skips unless the process runs as root (for tests that drop privileges or reserve hugepages).
void require_root(const std::string& why);

}
