#pragma once
/// @file
/// fmt-based logging to stderr with one global level. Chapters print their results to stdout;
/// the log is for what the VMM does along the way (--verbose shows every exit).

#include <cstdio>
#include <fmt/format.h>
#include <utility>

namespace stepvmm::log {

enum class Level {
    Error,
    Warning,
    Info,
    Trace, ///< every VM exit
};

/// The current level; messages above it are dropped. Default: Info.
Level level();
void set_level(Level level);

template<typename... Args>
void write(Level message_level, const char* tag, fmt::format_string<Args...> format, Args&&... args)
{
    if (message_level > level())
        return;
    fmt::print(stderr, "[{}] {}\n", tag, fmt::format(format, std::forward<Args>(args)...));
}

template<typename... Args>
void warning(fmt::format_string<Args...> format, Args&&... args)
{
    write(Level::Warning, "warning", format, std::forward<Args>(args)...);
}

template<typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args)
{
    write(Level::Info, "info", format, std::forward<Args>(args)...);
}

template<typename... Args>
void trace(fmt::format_string<Args...> format, Args&&... args)
{
    write(Level::Trace, "trace", format, std::forward<Args>(args)...);
}

} // namespace stepvmm::log
