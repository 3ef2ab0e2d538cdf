#pragma once
/// @file
/// Command-line parsing for every chapter (CLI11), with errors in the same one-line form as
/// everything else: "<program>: error: <what>" and exit status 1.

#include <CLI/CLI.hpp>
#include <optional>

namespace stepvmm::app {

/// Parses @p argv into @p cli. Returns std::nullopt to go on, or the exit status to return
/// now: 0 after --help, 1 after printing one error line.
[[nodiscard]] std::optional<int> parse_command_line(CLI::App& cli, int argc, char** argv);

} // namespace stepvmm::app
