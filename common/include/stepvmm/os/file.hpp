#pragma once
/// @file
/// Reading whole files (guest images) with errors that name the file.

#include <cstdint>
#include <filesystem>
#include <vector>

namespace stepvmm {

/// Reads all of @p path. Throws SystemError naming the path if it cannot be opened or read,
/// and UserError if it is larger than @p size_limit bytes.
[[nodiscard]] std::vector<std::uint8_t> read_whole_file(const std::filesystem::path& path, std::uint64_t size_limit);

} // namespace stepvmm
