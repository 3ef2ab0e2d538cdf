// The virtio-mmio transport (virtio 1.2 §4.2.2): the register file a driver programs, byte by
// byte as the guest's 32-bit loads and stores arrive from MMIO exits.

#include <stepvmm/devices/virtio_blk.hpp>
#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/virtio/mmio_transport.hpp>
#include <recording_line.hpp>
#include <temporary_file.hpp>
#include <virtio_driver_mock.hpp>

#include <catch2/catch.hpp>
#include <cstring>

using namespace stepvmm;
using namespace stepvmm::virtio;

namespace {

struct Rig {
    Rig()
        : file(std::vector<std::uint8_t>(8 * 512, 0))
        , backend(file.path(), backends::DiskAccess::ReadWrite)
        , device("vda", backend, "serial")
        , state(device, driver.memory())
        , transport(state, line)
    {
    }
    std::uint32_t read(std::uint64_t offset)
    {
        std::array<std::uint8_t, 4> bytes {};
        transport.read(offset, bytes);
        std::uint32_t value;
        std::memcpy(&value, bytes.data(), 4);
        return value;
    }
    void write(std::uint64_t offset, std::uint32_t value)
    {
        std::array<std::uint8_t, 4> bytes {};
        std::memcpy(bytes.data(), &value, 4);
        transport.write(offset, bytes);
    }

    test::TemporaryFile file;
    backends::FileBackend backend;
    devices::VirtioBlk device;
    test::VirtioDriverMock driver;
    DeviceState state;
    test::RecordingLine line;
    MmioTransport transport;
};

} // namespace

TEST_CASE("virtio-mmio identifies itself as a version 2 block device", "[virtio][mmio]")
{
    Rig rig;
    CHECK(rig.read(mmio::magic_value) == 0x74726976);
    CHECK(rig.read(mmio::version) == 2);
    CHECK(rig.read(mmio::device_id) == 2);
    rig.write(mmio::device_features_select, 1);
    CHECK(rig.read(mmio::device_features) == 1); // VERSION_1 is bit 32
    rig.write(mmio::device_features_select, 0);
    CHECK((rig.read(mmio::device_features) & (1U << devices::virtio_blk::feature_flush)));
    CHECK(rig.read(mmio::queue_size_max) == devices::VirtioBlk::max_queue_size);
    rig.write(mmio::queue_select, 1);
    CHECK(rig.read(mmio::queue_size_max) == 0); // no second queue
    CHECK(rig.read(mmio::shared_memory_length_low) == 0xffffffff);
}

TEST_CASE("a driver sets up virtio-mmio, submits a request and acknowledges the interrupt", "[virtio][mmio]")
{
    Rig rig;
    rig.write(mmio::status, 0);
    rig.write(mmio::status, status::acknowledge | status::driver);
    rig.write(mmio::driver_features_select, 1);
    rig.write(mmio::driver_features, 1);
    rig.write(mmio::driver_features_select, 0);
    rig.write(mmio::driver_features, 0);
    rig.write(mmio::status, status::acknowledge | status::driver | status::features_ok);
    REQUIRE((rig.read(mmio::status) & status::features_ok));

    auto addresses = rig.driver.addresses();
    rig.write(mmio::queue_select, 0);
    rig.write(mmio::queue_size, addresses.size);
    rig.write(mmio::queue_descriptor_low, static_cast<std::uint32_t>(addresses.descriptor_table));
    rig.write(mmio::queue_descriptor_high, 0);
    rig.write(mmio::queue_driver_low, static_cast<std::uint32_t>(addresses.available_ring));
    rig.write(mmio::queue_device_low, static_cast<std::uint32_t>(addresses.used_ring));
    rig.write(mmio::queue_ready, 1);
    CHECK(rig.read(mmio::queue_ready) == 1);
    rig.write(mmio::status, status::acknowledge | status::driver | status::features_ok | status::driver_ok);

    std::vector<std::uint8_t> header(16, 0);
    header[0] = static_cast<std::uint8_t>(devices::virtio_blk::request_flush);
    auto status_buffer = rig.driver.buffer(1, true);
    rig.driver.memory().write<std::uint8_t>(status_buffer.address, 0xaa);
    rig.driver.submit({ rig.driver.readable(header), status_buffer });
    rig.write(mmio::queue_notify, 0); // no ioeventfd here: the write itself reaches the device
    CHECK(rig.driver.memory().read<std::uint8_t>(status_buffer.address) == devices::virtio_blk::status_ok);
    CHECK(rig.line.asserted());
    CHECK(rig.read(mmio::interrupt_status) == mmio::interrupt_used_buffer);
    rig.write(mmio::interrupt_ack, mmio::interrupt_used_buffer);
    CHECK_FALSE(rig.line.asserted());
    CHECK(rig.read(mmio::interrupt_status) == 0);
    CHECK(rig.transport.interrupts_raised() == 1);

    // Reset: status 0 clears the device and any pending interrupt.
    rig.transport.config_changed();
    CHECK(rig.line.asserted());
    rig.write(mmio::status, 0);
    CHECK_FALSE(rig.line.asserted());
    CHECK(rig.read(mmio::status) == 0);
    CHECK(rig.read(mmio::queue_ready) == 0);
}

TEST_CASE("virtio-mmio registers ignore accesses that are not 32-bit aligned", "[virtio][mmio]")
{
    Rig rig;
    std::array<std::uint8_t, 2> half { 0xff, 0xff };
    rig.transport.read(mmio::magic_value, half);
    CHECK(half == std::array<std::uint8_t, 2> { 0, 0 });
    rig.transport.write(mmio::status, std::array<std::uint8_t, 1> { status::acknowledge });
    CHECK(rig.read(mmio::status) == 0);
    // Configuration space may be read in any width: capacity's low byte is 8 sectors.
    std::array<std::uint8_t, 1> capacity {};
    rig.transport.read(mmio::config, capacity);
    CHECK(capacity[0] == 8);
}

TEST_CASE("virtio-mmio offers one ioeventfd match per queue on QueueNotify", "[virtio][mmio]")
{
    Rig rig;
    auto matches = rig.transport.notification_matches(0xd0000000);
    REQUIRE(matches.size() == 1);
    CHECK(matches[0].address == 0xd0000050);
    CHECK(matches[0].length == 4);
    CHECK(matches[0].datamatch == 0);
    CHECK(matches[0].space == IoSpace::Mmio);
}
