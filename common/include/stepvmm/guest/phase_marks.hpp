#pragma once
/// @file
/// The guest's SYNC points as phase boundaries: at each numbered stage, how many VM exits had
/// happened and when. A chapter counts "exits per request" for the phase between two stages
/// (chapters 04 and 06).

#include <stepvmm/guest/guest_runner.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

namespace stepvmm::guest {

class PhaseMarks {
public:
    /// Stages 0 .. @p stages - 1 may be marked; a guest that syncs at another is a GuestError.
    explicit PhaseMarks(std::size_t stages);

    /// Sets @p hooks' on_exit (counting every exit) and on_sync (marking the stage).
    void install(RunHooks& hooks);

    /// Exits from stage @p from to stage @p to, not counting the second SYNC's own exit.
    [[nodiscard]] double exits_between(std::uint64_t from, std::uint64_t to) const;
    [[nodiscard]] double seconds_between(std::uint64_t from, std::uint64_t to) const;

private:
    struct Mark {
        std::uint64_t exits = 0;
        std::chrono::steady_clock::time_point time {};
    };
    std::uint64_t m_exits = 0;
    std::vector<Mark> m_marks;
};

} // namespace stepvmm::guest
