// The transport-independent virtio device state: status machine (virtio 1.2 §2.1, §3.1.1),
// feature negotiation (§2.2), queue configuration and reset (§2.4), and NEEDS_RESET when the
// driver breaks the protocol (§2.1.2).

#include <stepvmm/virtio/device_state.hpp>
#include <virtio_driver_mock.hpp>

#include <catch2/catch.hpp>

using namespace stepvmm;
using namespace stepvmm::virtio;
using test::VirtioDriverMock;

namespace {

// A device that records what DeviceState asks of it and takes every chain it is given.
class RecordingDevice final : public VirtioDevice {
public:
    std::string_view name() const override { return "recording"; }
    DeviceType type() const override { return DeviceType::Block; }
    std::uint64_t offered_features() const override
    {
        return feature_bit(feature::version_1) | feature_bit(feature::event_idx) | feature_bit(3);
    }
    std::uint16_t queue_count() const override { return 2; }
    std::uint16_t queue_max_size() const override { return 16; }
    void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const override
    {
        for (std::size_t i = 0; i < data.size(); ++i)
            data[i] = static_cast<std::uint8_t>(offset + i);
    }
    void write_config(std::uint64_t, std::span<const std::uint8_t>) override { ++config_writes; }
    void activate(const ActiveDevice& device) override
    {
        ++activations;
        negotiated = device.negotiated_features;
        m_active.emplace(device);
    }
    void process_queue(std::uint16_t index) override
    {
        ++passes;
        auto& queue = m_active->queues[index];
        while (auto chain = queue.pop(m_active->memory)) {
            queue.add_used(m_active->memory, chain->head, 0);
            ++chains;
        }
        if (queue.should_notify_driver(m_active->memory))
            m_active->interrupts.used_buffer(index);
    }
    void reset() override
    {
        ++resets;
        m_active.reset();
    }

    unsigned activations = 0, resets = 0, passes = 0, chains = 0, config_writes = 0;
    std::uint64_t negotiated = 0;

private:
    std::optional<ActiveDevice> m_active;
};

constexpr std::uint64_t version_1 = feature_bit(feature::version_1);

// A driver's memory, the device, the state between them and the transport's interrupt sink.
struct Rig {
    Rig() { state.set_interrupt_sink(sink); }
    VirtioDriverMock driver;
    RecordingDevice device;
    DeviceState state { device, driver.memory() };
    test::CountingSink sink;
};

} // namespace

TEST_CASE_METHOD(Rig, "the driver initialisation sequence activates the device", "[virtio][state]")
{

    CHECK(state.device_features_word(0) == feature_bit(feature::event_idx) + 8);
    CHECK(state.device_features_word(1) == 1);
    CHECK(state.device_features_word(2) == 0);
    REQUIRE(driver.initialize(state, version_1 | feature_bit(feature::event_idx)));
    CHECK(device.activations == 1);
    CHECK(device.negotiated == (version_1 | feature_bit(feature::event_idx)));
    CHECK(state.negotiated_features() == device.negotiated);
    CHECK((state.status() & status::driver_ok));

    driver.submit({ driver.buffer(1, true) });
    state.notify(0);
    CHECK(device.chains == 1);
    CHECK(driver.used_index() == 1);
    CHECK(state.notifications() == 1);
}

TEST_CASE_METHOD(Rig, "FEATURES_OK is not kept for features the device did not offer or without VERSION_1", "[virtio][state]")
{
    CHECK_FALSE(driver.initialize(state, version_1 | feature_bit(40)));
    CHECK_FALSE(driver.initialize(state, feature_bit(feature::event_idx))); // a legacy driver
    CHECK(device.activations == 0);
    // DRIVER_OK without FEATURES_OK does not activate either.
    state.write_status(status::acknowledge | status::driver | status::driver_ok);
    CHECK(device.activations == 0);
}

TEST_CASE_METHOD(Rig, "driver features cannot change after FEATURES_OK", "[virtio][state]")
{
    REQUIRE(driver.initialize(state, version_1));
    state.write_driver_features_word(0, feature_bit(feature::event_idx));
    CHECK(state.negotiated_features() == version_1);
}

TEST_CASE_METHOD(Rig, "writing 0 to status resets device, queues and features", "[virtio][state]")
{
    REQUIRE(driver.initialize(state, version_1));
    state.write_status(0);
    CHECK(device.resets == 1);
    CHECK(state.status() == 0);
    CHECK(state.negotiated_features() == 0);
    CHECK_FALSE(state.queue_config(0).ready);
    CHECK(state.queue_config(0).size == 16);
    // A kick after reset reaches nobody.
    driver.submit({ driver.buffer(1, true) });
    state.notify(0);
    CHECK(device.passes == 0);
}

TEST_CASE_METHOD(Rig, "queue configuration is frozen while the queue is ready and sizes are checked", "[virtio][state]")
{
    state.write_queue_config(1, QueueConfig { 12, 0x1000, 0x3000, 0x4000, true });
    CHECK_FALSE(state.queue_config(1).ready); // 12 is not a power of two
    state.write_queue_config(1, QueueConfig { 32, 0x1000, 0x3000, 0x4000, true });
    CHECK_FALSE(state.queue_config(1).ready); // above the maximum of 16
    state.write_queue_config(1, QueueConfig { 8, 0x1000, 0x3000, 0x4000, true });
    REQUIRE(state.queue_config(1).ready);
    state.write_queue_config(1, QueueConfig { 8, 0x8000, 0x3000, 0x4000, true });
    CHECK(state.queue_config(1).descriptor_table == 0x1000);
    state.write_queue_config(7, QueueConfig { 8, 0x1000, 0x3000, 0x4000, true }); // no such queue: ignored
}

TEST_CASE_METHOD(Rig, "a driver that breaks the protocol gets NEEDS_RESET and a config change, not a crash", "[virtio][state]")
{
    REQUIRE(driver.initialize(state, version_1));

    driver.write_descriptor(0, test::mock_heap, 4, ring::descriptor_next, 0); // a loop onto itself
    driver.publish(0);
    state.notify(0);
    CHECK((state.status() & status::needs_reset));
    CHECK(sink.config_changes == 1);
    CHECK_THAT(state.needs_reset_reason(), Catch::Contains("longer than the queue size"));

    // Until the driver resets, kicks are ignored; a reset brings the device back.
    unsigned passes = device.passes;
    state.notify(0);
    CHECK(device.passes == passes);
    VirtioDriverMock fresh;
    DeviceState fresh_state(device, fresh.memory());
    fresh_state.set_interrupt_sink(sink);
    REQUIRE(fresh.initialize(fresh_state, version_1));
    CHECK_FALSE((fresh_state.status() & status::needs_reset));
}

TEST_CASE_METHOD(Rig, "the driver may not clear status bits except by reset", "[virtio][state]")
{
    REQUIRE(driver.initialize(state, version_1));
    state.write_status(status::acknowledge);
    CHECK((state.status() & status::driver_ok));
    CHECK(device.activations == 1);
}

TEST_CASE_METHOD(Rig, "configuration space reads and writes reach the device", "[virtio][state]")
{
    std::array<std::uint8_t, 3> bytes {};
    state.read_config(5, bytes);
    CHECK(bytes == std::array<std::uint8_t, 3> { 5, 6, 7 });
    state.write_config(0, bytes);
    CHECK(device.config_writes == 1);
    CHECK(state.config_generation() == 0);
    state.device_config_changed();
    CHECK(state.config_generation() == 1);
}
