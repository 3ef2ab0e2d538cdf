// virtio-blk (virtio 1.2 §5.2) over a real temporary disk file, driven through a split
// virtqueue by the driver-side mock: the bytes in the file, the status byte and the used
// length are what the guest would see.

#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/devices/virtio_blk.hpp>
#include <stepvmm/virtio/device_state.hpp>
#include <temporary_file.hpp>
#include <virtio_driver_mock.hpp>

#include <catch2/catch.hpp>
#include <cstring>

using namespace stepvmm;
using namespace stepvmm::devices;
using namespace stepvmm::devices::virtio_blk;
using test::MockBuffer;

namespace {

constexpr std::uint64_t disk_sectors = 64;

std::vector<std::uint8_t> header(std::uint32_t type, std::uint64_t sector)
{
    std::vector<std::uint8_t> bytes(16, 0);
    std::memcpy(bytes.data(), &type, 4);
    std::memcpy(bytes.data() + 8, &sector, 8);
    return bytes;
}

std::vector<std::uint8_t> segment(std::uint64_t sector, std::uint32_t sectors, std::uint32_t flags)
{
    std::vector<std::uint8_t> bytes(16, 0);
    std::memcpy(bytes.data(), &sector, 8);
    std::memcpy(bytes.data() + 8, &sectors, 4);
    std::memcpy(bytes.data() + 12, &flags, 4);
    return bytes;
}

std::vector<std::uint8_t> pattern(std::size_t length, std::uint8_t seed)
{
    std::vector<std::uint8_t> bytes(length);
    for (std::size_t i = 0; i < length; ++i)
        bytes[i] = static_cast<std::uint8_t>(seed + i * 7 + i / 512);
    return bytes;
}

// A disk file, the device on it, and a driver that has negotiated with it.
struct Rig {
    explicit Rig(backends::DiskAccess access = backends::DiskAccess::ReadWrite, std::uint64_t extra_features = 0)
        : file(std::vector<std::uint8_t>(disk_sectors * sector_size, 0xee))
        , backend(file.path(), access)
        , device("vda", backend, "stepvmm-test-disk")
        , state(device, driver.memory())
    {
        state.set_interrupt_sink(sink);
        REQUIRE(driver.initialize(state, virtio::feature_bit(virtio::feature::version_1) | extra_features));
    }

    // Submits one request and lets the device process the queue; returns the status byte.
    std::uint8_t run(std::vector<MockBuffer> buffers, bool indirect = false)
    {
        MockBuffer status = driver.buffer(1, true);
        driver.memory().write<std::uint8_t>(status.address, 0xaa);
        buffers.push_back(status);
        if (indirect)
            driver.publish(driver.add_indirect_chain(buffers));
        else
            driver.submit(buffers);
        state.notify(0);
        return driver.memory().read<std::uint8_t>(status.address);
    }

    std::vector<std::uint8_t> sectors(std::uint64_t first, std::uint64_t count) const
    {
        auto all = file.contents();
        return { all.begin() + static_cast<long>(first * sector_size), all.begin() + static_cast<long>((first + count) * sector_size) };
    }

    test::TemporaryFile file;
    backends::FileBackend backend;
    VirtioBlk device;
    test::VirtioDriverMock driver;
    virtio::DeviceState state;
    test::CountingSink sink;
};

} // namespace

TEST_CASE("virtio-blk writes land in the file and read back through the ring", "[virtio][blk]")
{
    Rig rig;
    auto data = pattern(3 * sector_size, 1);
    CHECK(rig.run({ rig.driver.readable(header(request_out, 5)), rig.driver.readable(data) }) == status_ok);
    CHECK(rig.sectors(5, 3) == data);
    CHECK(rig.driver.used(0).length == 1); // only the status byte was written

    MockBuffer into = rig.driver.buffer(3 * sector_size, true);
    CHECK(rig.run({ rig.driver.readable(header(request_in, 5)), into }) == status_ok);
    CHECK(rig.driver.read(into.address, into.length) == data);
    CHECK(rig.driver.used(1).length == 3 * sector_size + 1);
    CHECK(rig.device.statistics().bytes_written == 3 * sector_size);
    CHECK(rig.device.statistics().bytes_read == 3 * sector_size);
    CHECK(rig.sink.used_buffers == 2);
}

TEST_CASE("virtio-blk takes data split over many descriptors and through indirect tables", "[virtio][blk]")
{
    Rig rig(backends::DiskAccess::ReadWrite, virtio::feature_bit(virtio::feature::indirect_desc));
    auto data = pattern(4 * sector_size, 9);
    std::span<const std::uint8_t> all(data);
    // Pieces that do not respect sector boundaries: the device must not care (§2.6.4).
    CHECK(rig.run({ rig.driver.readable(header(request_out, 10)), rig.driver.readable(all.first(100)),
              rig.driver.readable(all.subspan(100, 1000)), rig.driver.readable(all.subspan(1100)) },
              true)
        == status_ok);
    CHECK(rig.sectors(10, 4) == data);

    // The header split over two descriptors too, and the reply in three.
    auto request = header(request_in, 10);
    std::span<const std::uint8_t> header_bytes(request);
    MockBuffer a = rig.driver.buffer(7, true), b = rig.driver.buffer(2041, true);
    CHECK(rig.run({ rig.driver.readable(header_bytes.first(5)), rig.driver.readable(header_bytes.subspan(5)), a, b }) == status_ok);
    auto got = rig.driver.read(a.address, 7);
    auto rest = rig.driver.read(b.address, 2041);
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(got == data);
}

TEST_CASE("virtio-blk FLUSH, GET_ID, DISCARD and WRITE_ZEROES", "[virtio][blk]")
{
    Rig rig;
    CHECK(rig.run({ rig.driver.readable(header(request_flush, 0)) }) == status_ok);
    CHECK(rig.device.statistics().flushes == 1);

    MockBuffer id = rig.driver.buffer(20, true);
    CHECK(rig.run({ rig.driver.readable(header(request_get_id, 0)), id }) == status_ok);
    auto id_bytes = rig.driver.read(id.address, 20);
    CHECK(std::string(id_bytes.begin(), id_bytes.begin() + 17) == "stepvmm-test-disk");
    CHECK(id_bytes[17] == 0); // NUL-padded to 20 bytes

    CHECK(rig.run({ rig.driver.readable(header(request_write_zeroes, 0)), rig.driver.readable(segment(2, 3, 0)) }) == status_ok);
    CHECK(rig.sectors(2, 3) == std::vector<std::uint8_t>(3 * sector_size, 0));
    CHECK(rig.sectors(5, 1) == std::vector<std::uint8_t>(sector_size, 0xee));
    CHECK(rig.run({ rig.driver.readable(header(request_write_zeroes, 0)), rig.driver.readable(segment(7, 1, segment_flag_unmap)) }) == status_ok);
    CHECK(rig.sectors(7, 1) == std::vector<std::uint8_t>(sector_size, 0));

    CHECK(rig.run({ rig.driver.readable(header(request_discard, 0)), rig.driver.readable(segment(20, 8, 0)) }) == status_ok);
    CHECK(rig.file.contents().size() == disk_sectors * sector_size); // a discard never changes the size
    // §5.2.6.2: unmap on a discard and unknown flags are UNSUPP.
    CHECK(rig.run({ rig.driver.readable(header(request_discard, 0)), rig.driver.readable(segment(20, 8, segment_flag_unmap)) }) == status_unsupported);
    CHECK(rig.run({ rig.driver.readable(header(request_write_zeroes, 0)), rig.driver.readable(segment(20, 8, 4)) }) == status_unsupported);
}

TEST_CASE("virtio-blk answers unknown request types with UNSUPP", "[virtio][blk]")
{
    Rig rig;
    CHECK(rig.run({ rig.driver.readable(header(99, 0)) }) == status_unsupported);
    CHECK(rig.device.statistics().unsupported == 1);
}

TEST_CASE("a read-only virtio-blk disk offers RO and refuses writes with IOERR", "[virtio][blk]")
{
    Rig rig(backends::DiskAccess::ReadOnly);
    CHECK((rig.device.offered_features() & virtio::feature_bit(feature_read_only)));
    auto before = rig.file.contents();
    CHECK(rig.run({ rig.driver.readable(header(request_out, 0)), rig.driver.readable(pattern(sector_size, 3)) }) == status_io_error);
    CHECK(rig.run({ rig.driver.readable(header(request_write_zeroes, 0)), rig.driver.readable(segment(0, 1, 0)) }) == status_io_error);
    CHECK(rig.run({ rig.driver.readable(header(request_discard, 0)), rig.driver.readable(segment(0, 1, 0)) }) == status_io_error);
    CHECK(rig.file.contents() == before);
    MockBuffer into = rig.driver.buffer(sector_size, true);
    CHECK(rig.run({ rig.driver.readable(header(request_in, 0)), into }) == status_ok);
    CHECK(rig.run({ rig.driver.readable(header(request_flush, 0)) }) == status_ok);
}

TEST_CASE("malformed virtio-blk requests get IOERR and leave the disk alone", "[virtio][blk]")
{
    Rig rig;
    auto before = rig.file.contents();
    auto& driver = rig.driver;
    SECTION("a header shorter than 16 bytes") { CHECK(rig.run({ driver.readable(std::vector<std::uint8_t>(8, 0)) }) == status_io_error); }
    SECTION("a length that is not a multiple of 512")
    {
        CHECK(rig.run({ driver.readable(header(request_out, 0)), driver.readable(pattern(500, 1)) }) == status_io_error);
    }
    SECTION("a write past the end of the disk")
    {
        CHECK(rig.run({ driver.readable(header(request_out, disk_sectors - 1)), driver.readable(pattern(1024, 1)) }) == status_io_error);
    }
    SECTION("a sector number that overflows")
    {
        CHECK(rig.run({ driver.readable(header(request_in, ~std::uint64_t { 0 } - 1)), driver.buffer(1024, true) }) == status_io_error);
    }
    SECTION("read data in a device-readable buffer")
    {
        CHECK(rig.run({ driver.readable(header(request_in, 0)), driver.readable(pattern(512, 1)) }) == status_io_error);
    }
    SECTION("write data in a device-writable buffer") { CHECK(rig.run({ driver.readable(header(request_out, 0)), driver.buffer(512, true) }) == status_io_error); }
    SECTION("a discard range outside the disk")
    {
        CHECK(rig.run({ driver.readable(header(request_discard, 0)), driver.readable(segment(disk_sectors, 1, 0)) }) == status_io_error);
    }
    SECTION("more discard segments than max_discard_seg")
    {
        std::vector<std::uint8_t> many;
        for (std::uint32_t i = 0; i <= VirtioBlk::max_discard_segments; ++i) {
            auto one = segment(i, 1, 0);
            many.insert(many.end(), one.begin(), one.end());
        }
        CHECK(rig.run({ driver.readable(header(request_discard, 0)), driver.readable(many) }) == status_io_error);
    }
    CHECK(rig.file.contents() == before);
    CHECK_FALSE((rig.state.status() & virtio::status::needs_reset));
}

TEST_CASE("a virtio-blk request without a writable status byte needs a device reset", "[virtio][blk]")
{
    Rig rig;
    rig.driver.submit({ rig.driver.readable(header(request_flush, 0)) });
    rig.state.notify(0);
    CHECK((rig.state.status() & virtio::status::needs_reset));
    CHECK(rig.sink.config_changes == 1);
    CHECK(rig.driver.used_index() == 0);
}

TEST_CASE("virtio-blk with EVENT_IDX interrupts only when the driver asked", "[virtio][blk]")
{
    Rig rig(backends::DiskAccess::ReadWrite, virtio::feature_bit(virtio::feature::event_idx));
    rig.driver.set_used_event(3); // "tell me when the fourth request is done"
    for (int i = 0; i < 3; ++i)
        CHECK(rig.run({ rig.driver.readable(header(request_flush, 0)) }) == status_ok);
    CHECK(rig.sink.used_buffers == 0);
    CHECK(rig.run({ rig.driver.readable(header(request_flush, 0)) }) == status_ok);
    CHECK(rig.sink.used_buffers == 1);
    CHECK(rig.device.statistics().notifications_suppressed == 3);
}

TEST_CASE("virtio-blk configuration space", "[virtio][blk]")
{
    Rig rig;
    std::array<std::uint8_t, config_size> config {};
    rig.state.read_config(0, config);
    std::uint64_t capacity;
    std::memcpy(&capacity, config.data(), 8);
    CHECK(capacity == disk_sectors);
    std::uint32_t blk_size;
    std::memcpy(&blk_size, config.data() + config_blk_size, 4);
    CHECK(blk_size == 512);
    // An unaligned 2-byte read across a field boundary, as a driver may do.
    std::array<std::uint8_t, 2> middle {};
    rig.state.read_config(7, middle);
    CHECK(middle[0] == config[7]);
    CHECK(middle[1] == config[8]);
    std::array<std::uint8_t, 4> past {};
    rig.state.read_config(config_size + 100, past);
    CHECK(past == std::array<std::uint8_t, 4> {});
}
