#include <stepvmm/guest/phase_marks.hpp>
#include <stepvmm/os/system_error.hpp>

#include <fmt/format.h>

namespace stepvmm::guest {

PhaseMarks::PhaseMarks(std::size_t stages)
    : m_marks(stages)
{
}

void PhaseMarks::install(RunHooks& hooks)
{
    hooks.on_exit = [this](const VcpuExit&) { ++m_exits; };
    hooks.on_sync = [this](std::uint64_t stage) {
        if (stage >= m_marks.size())
            throw GuestError(fmt::format("the guest synced at stage {}, which this chapter does not define", stage));
        m_marks[stage] = { m_exits, std::chrono::steady_clock::now() };
    };
}

double PhaseMarks::exits_between(std::uint64_t from, std::uint64_t to) const
{
    return static_cast<double>(m_marks.at(to).exits - m_marks.at(from).exits - 1);
}

double PhaseMarks::seconds_between(std::uint64_t from, std::uint64_t to) const
{
    return std::chrono::duration<double>(m_marks.at(to).time - m_marks.at(from).time).count();
}

} // namespace stepvmm::guest
