#pragma once
/// @file
/// Numbers the virtio 1.2 specification fixes: device status bits (§2.1), reserved feature
/// bits (§6) and device IDs (§5). Shared by the queue, the transports and the devices.

#include <cstdint>

namespace stepvmm::virtio {

/// Device status field bits (virtio 1.2 §2.1). The driver sets them in this order.
namespace status {
inline constexpr std::uint8_t acknowledge = 1;
inline constexpr std::uint8_t driver = 2;
inline constexpr std::uint8_t driver_ok = 4;
inline constexpr std::uint8_t features_ok = 8;
inline constexpr std::uint8_t needs_reset = 64; ///< set by the device only
inline constexpr std::uint8_t failed = 128;     ///< set by the driver: it gave up
} // namespace status

/// Reserved feature bits (virtio 1.2 §6), as bit numbers.
namespace feature {
inline constexpr unsigned indirect_desc = 28;  ///< §2.7.5.3 indirect descriptors
inline constexpr unsigned event_idx = 29;      ///< §2.7.7 / §2.7.10 used_event, avail_event
inline constexpr unsigned version_1 = 32;      ///< a modern (non-legacy) device
inline constexpr unsigned access_platform = 33;
inline constexpr unsigned ring_packed = 34;
} // namespace feature

/// The feature mask for bit number @p bit.
constexpr std::uint64_t feature_bit(unsigned bit) { return std::uint64_t { 1 } << bit; }

/// Device IDs (virtio 1.2 §5).
enum class DeviceType : std::uint32_t {
    Network = 1,
    Block = 2,
};

} // namespace stepvmm::virtio
