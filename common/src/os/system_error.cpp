#include <stepvmm/os/system_error.hpp>

#include <cstring>
#include <fmt/format.h>

namespace stepvmm {

static std::string describe(std::string_view call, int error_number)
{
    return fmt::format("{}: {} (errno {})", call, std::strerror(error_number), error_number);
}

SystemError::SystemError(std::string_view call, int error_number)
    : std::runtime_error(describe(call, error_number))
    , m_error_number(error_number)
{
}

SystemError::SystemError(std::string_view call, int error_number, std::string_view hint)
    : std::runtime_error(fmt::format("{} — {}", describe(call, error_number), hint))
    , m_error_number(error_number)
{
}

} // namespace stepvmm
