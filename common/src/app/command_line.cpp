#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>

#include <fmt/format.h>

namespace stepvmm::app {

std::optional<int> parse_command_line(CLI::App& cli, int argc, char** argv)
{
    try {
        cli.parse(argc, argv);
        return std::nullopt;
    } catch (const CLI::CallForHelp&) {
        fmt::print("{}", cli.help());
        return 0;
    } catch (const CLI::ParseError& error) {
        fmt::print(stderr, "{}: error: {} (see --help)\n", cli.get_name(), error.what());
        return exit_error;
    }
}

} // namespace stepvmm::app
