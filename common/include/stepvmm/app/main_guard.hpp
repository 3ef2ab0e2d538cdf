#pragma once
/// @file
/// The boundary between a chapter's code and the shell: every error becomes one clear line on
/// stderr and a non-zero exit status (house rule 2).

#include <functional>
#include <string_view>

namespace stepvmm::app {

/// Exit status for errors caused by the host or the user's input.
inline constexpr int exit_error = 1;
/// Exit status when the guest failed (assertion, crash, protocol violation).
inline constexpr int exit_guest_failed = 2;

/// Runs @p body and returns its status; exceptions become "<program>: error: <what>" and
/// exit_error (or exit_guest_failed for a GuestError).
int run_main(std::string_view program, const std::function<int()>& body);

} // namespace stepvmm::app
