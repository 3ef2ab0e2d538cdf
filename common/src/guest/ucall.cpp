#include <stepvmm/guest/ucall.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <cstring>
#include <fmt/format.h>

namespace stepvmm::guest {

std::optional<Ucall> decode_ucall(const GuestMemory& memory, const IoExit& exit)
{
    if (exit.port != STEPVMM_UCALL_PORT || exit.direction != AccessDirection::Write)
        return std::nullopt;
    if (exit.size != 4 || exit.count != 1)
        throw GuestAccessError(fmt::format("ucall port written with size {} x{}; the protocol is one 32-bit OUT", exit.size, exit.count));
    std::uint32_t address = 0;
    std::memcpy(&address, exit.data.data(), sizeof(address));
    // The copy is taken once: a guest changing the struct while we look cannot make us read
    // two different versions of it.
    auto raw = memory.read<stepvmm_ucall>(address);
    if (raw.command < STEPVMM_UCALL_PRINT || raw.command > STEPVMM_UCALL_DONE)
        throw GuestAccessError(fmt::format("ucall at {:#x} has unknown command {}", address, raw.command));
    Ucall ucall { static_cast<UcallCommand>(raw.command), {}, {} };
    std::memcpy(ucall.args.data(), raw.args, sizeof(raw.args));
    ucall.text.assign(raw.text, strnlen(raw.text, sizeof(raw.text)));
    return ucall;
}

} // namespace stepvmm::guest
