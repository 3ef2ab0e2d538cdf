#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/os/system_error.hpp>

#include <cstdio>
#include <fmt/format.h>

namespace stepvmm::app {

int run_main(std::string_view program, const std::function<int()>& body)
{
    try {
        return body();
    } catch (const GuestError& error) {
        std::fflush(stdout);
        fmt::print(stderr, "{}: guest error: {}\n", program, error.what());
        return exit_guest_failed;
    } catch (const std::exception& error) {
        std::fflush(stdout);
        fmt::print(stderr, "{}: error: {}\n", program, error.what());
        return exit_error;
    }
}

} // namespace stepvmm::app
