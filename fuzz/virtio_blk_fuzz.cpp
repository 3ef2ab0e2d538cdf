// libFuzzer target: a hostile driver's guest memory against the split virtqueue and the
// virtio-blk request parser. The input becomes the bytes of the guest's RAM where the rings,
// descriptors and requests live; the device then processes the queue as it would after a
// kick. What is checked: no crash, no sanitizer report, no access outside guest memory, and
// the device never hands the disk a range or a write it should have refused (the in-memory
// backend aborts if it does), and no pass takes more chains than the queue can hold.

#include <stepvmm/backends/block_backend.hpp>
#include <stepvmm/devices/virtio_blk.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/virtio/device_state.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

using namespace stepvmm;

namespace {

constexpr std::uint64_t ram_size = 1 << 20;
constexpr std::uint16_t queue_size = 16;
constexpr std::uint64_t descriptor_table = 0x0, available_ring = 0x1000, used_ring = 0x2000;

// A small disk in host memory: the fuzzer runs millions of requests, files would be the bottleneck.
class MemoryBackend final : public backends::BlockBackend {
public:
    explicit MemoryBackend(bool read_only)
        : m_bytes(64 * 512, 0)
        , m_read_only(read_only)
    {
    }
    std::uint64_t size() const override { return m_bytes.size(); }
    bool read_only() const override { return m_read_only; }
    backends::IoStatus read(std::uint64_t offset, std::span<std::uint8_t> data) override
    {
        if (!inside(offset, data.size()))
            std::abort(); // the device must have checked the range before any I/O
        std::memcpy(data.data(), m_bytes.data() + offset, data.size());
        return backends::IoStatus::Ok;
    }
    backends::IoStatus write(std::uint64_t offset, std::span<const std::uint8_t> data) override
    {
        if (!inside(offset, data.size()) || m_read_only)
            std::abort(); // range and read-only are the device's to check first
        std::memcpy(m_bytes.data() + offset, data.data(), data.size());
        return backends::IoStatus::Ok;
    }
    backends::IoStatus flush() override { return backends::IoStatus::Ok; }
    backends::IoStatus discard(std::uint64_t offset, std::uint64_t length) override
    {
        return inside(offset, length) ? backends::IoStatus::Ok : (std::abort(), backends::IoStatus::IoError);
    }
    backends::IoStatus write_zeroes(std::uint64_t offset, std::uint64_t length, backends::ZeroingMode) override
    {
        if (!inside(offset, length) || m_read_only)
            std::abort();
        std::memset(m_bytes.data() + offset, 0, length);
        return backends::IoStatus::Ok;
    }

private:
    bool inside(std::uint64_t offset, std::uint64_t length) const { return offset <= m_bytes.size() && length <= m_bytes.size() - offset; }
    std::vector<std::uint8_t> m_bytes;
    bool m_read_only;
};

class NullSink final : public virtio::InterruptSink {
public:
    void used_buffer(std::uint16_t) override { }
    void config_changed() override { }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2)
        return 0;
    // The first byte chooses the features and the disk's mode; the rest is the guest's RAM,
    // repeated to fill the first 64 KiB so that pointers into it land on fuzzer bytes.
    std::uint8_t control = data[0];
    std::span<const std::uint8_t> image(data + 1, size - 1);
    static GuestMemory memory({ RamRange { "fuzz RAM", 0, ram_size } }, Backing::Anonymous4K);
    auto ram = memory.at(0, 0x10000);
    for (std::size_t offset = 0; offset < ram.size(); offset += image.size())
        std::memcpy(ram.data() + offset, image.data(), std::min(image.size(), ram.size() - offset));

    // The used ring is the device's to write; it starts from index 0 whatever was there.
    std::memset(memory.at(used_ring, 0x1000).data(), 0, 0x1000);

    MemoryBackend backend(control & 1);
    devices::VirtioBlk device("fuzz", backend, "fuzz-serial");
    virtio::DeviceState state(device, memory);
    NullSink sink;
    state.set_interrupt_sink(sink);
    std::uint64_t features = virtio::feature_bit(virtio::feature::version_1);
    if (control & 2)
        features |= virtio::feature_bit(virtio::feature::event_idx);
    if (control & 4)
        features |= virtio::feature_bit(virtio::feature::indirect_desc);
    state.write_status(virtio::status::acknowledge | virtio::status::driver);
    state.write_driver_features_word(0, static_cast<std::uint32_t>(features));
    state.write_driver_features_word(1, static_cast<std::uint32_t>(features >> 32));
    state.write_status(virtio::status::acknowledge | virtio::status::driver | virtio::status::features_ok);
    state.write_queue_config(0, virtio::QueueConfig { queue_size, descriptor_table, available_ring, used_ring, true });
    state.write_status(virtio::status::acknowledge | virtio::status::driver | virtio::status::features_ok | virtio::status::driver_ok);

    state.notify(0);
    state.notify(0);
    // Each pass can take at most one queue's worth of chains: the available index may not run
    // further ahead than the queue size (§2.7.13.3; Firecracker's check). The ring contents
    // themselves prove nothing here: a hostile driver may point buffers at its own rings.
    if (device.statistics().requests > 2 * queue_size)
        std::abort();
    return 0;
}
