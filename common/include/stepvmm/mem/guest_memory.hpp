#pragma once
/// @file
/// Guest RAM: host mappings placed at guest-physical addresses, and the one checked
/// GPA-to-host translation every access from the VMM goes through (house rule 3).

#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/mem/backing.hpp>
#include <stepvmm/mem/memory_layout.hpp>
#include <stepvmm/os/mapping.hpp>
#include <stepvmm/os/system_error.hpp>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace stepvmm {

/// A guest-physical access the VMM refused: outside RAM, across a hole, or overflowing.
/// Guest-caused, so callers turn it into a device status or a logged line, never a crash.
class GuestAccessError : public GuestError {
public:
    using GuestError::GuestError;
};

/// One RAM range with its host mapping and KVM slot.
struct GuestRegion {
    RamRange range;
    Mapping host;
    MemorySlot slot;
};

/// All guest RAM of one VM.
class GuestMemory {
public:
    /// Allocates every range with @p backing; slots are numbered from @p first_slot.
    GuestMemory(const std::vector<RamRange>& ranges, Backing backing, std::uint32_t first_slot = 0);

    /// Host bytes for [gpa, gpa + length), or std::nullopt if any byte is not RAM or the range
    /// overflows. A range never spans two regions: they are not contiguous on the host.
    [[nodiscard]] std::optional<std::span<std::uint8_t>> translate(std::uint64_t gpa, std::uint64_t length) const;

    /// translate() that throws GuestAccessError naming the range.
    [[nodiscard]] std::span<std::uint8_t> at(std::uint64_t gpa, std::uint64_t length) const;

    /// Copies a trivially copyable value out of guest memory (unaligned access is fine).
    template<typename T>
        requires std::is_trivially_copyable_v<T>
    [[nodiscard]] T read(std::uint64_t gpa) const
    {
        T value;
        std::memcpy(&value, at(gpa, sizeof(T)).data(), sizeof(T));
        return value;
    }

    /// Copies a trivially copyable value into guest memory.
    template<typename T>
        requires std::is_trivially_copyable_v<T>
    void write(std::uint64_t gpa, const T& value) const
    {
        std::memcpy(at(gpa, sizeof(T)).data(), &value, sizeof(T));
    }

    /// Copies @p bytes into guest memory at @p gpa.
    void write_bytes(std::uint64_t gpa, std::span<const std::uint8_t> bytes) const;

    /// Registers every region as a KVM memory slot.
    void install(Vm& vm) const;

    /// Re-registers region @p index with dirty logging switched on or off, as live migration
    /// does around its copy rounds. Switching it on also clears the log.
    void set_dirty_logging(Vm& vm, std::size_t index, DirtyLogging logging);

    /// Guest-physical addresses of the pages of region @p index written since the last call.
    [[nodiscard]] std::vector<std::uint64_t> take_dirty_pages(Vm& vm, std::size_t index) const;

    [[nodiscard]] const std::vector<GuestRegion>& regions() const { return m_regions; }
    [[nodiscard]] Backing backing() const { return m_backing; }

    /// The highest guest-physical address of RAM plus one.
    [[nodiscard]] std::uint64_t end() const;

private:
    std::vector<GuestRegion> m_regions;
    Backing m_backing;
};

} // namespace stepvmm
