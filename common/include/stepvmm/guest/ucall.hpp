#pragma once
/// @file
/// The VMM side of the ucall channel (see abi/guest_abi.h): decoding a guest's request.

#include <stepvmm/abi/guest_abi.h>
#include <stepvmm/kvm/exit.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace stepvmm {
class GuestMemory;
}

namespace stepvmm::guest {

/// What a guest asked for.
enum class UcallCommand {
    Print = STEPVMM_UCALL_PRINT,
    Sync = STEPVMM_UCALL_SYNC,
    Report = STEPVMM_UCALL_REPORT,
    Fail = STEPVMM_UCALL_FAIL,
    Done = STEPVMM_UCALL_DONE,
};

/// A decoded ucall; the text is cut at its NUL or at the buffer end, whichever comes first.
struct Ucall {
    UcallCommand command;
    std::array<std::uint64_t, 4> args;
    std::string text;
};

/// If @p exit is a 32-bit OUT to STEPVMM_UCALL_PORT, reads the request it points to.
/// Returns std::nullopt for any other exit. A request outside guest RAM or with an unknown
/// command throws GuestAccessError: the guest broke the protocol.
[[nodiscard]] std::optional<Ucall> decode_ucall(const GuestMemory& memory, const IoExit& exit);

} // namespace stepvmm::guest
