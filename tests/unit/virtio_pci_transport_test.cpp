// The modern virtio-pci transport (virtio 1.2 §4.1): a driver finds its structures through
// vendor capabilities, initialises the device through the common configuration, and gets
// interrupts through MSI-X or, with MSI-X off, INTx and the ISR register.

#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/devices/virtio_blk.hpp>
#include <stepvmm/virtio/pci_transport.hpp>
#include <recording_line.hpp>
#include <temporary_file.hpp>
#include <virtio_driver_mock.hpp>

#include <catch2/catch.hpp>
#include <recording_msi.hpp>
#include <cstring>
#include <map>

using namespace stepvmm;
using namespace stepvmm::virtio;
using namespace stepvmm::virtio::pci_layout;

namespace {


struct Rig {
    Rig()
        : file(std::vector<std::uint8_t>(16 * 512, 0))
        , backend(file.path(), backends::DiskAccess::ReadWrite)
        , device("vda", backend, "serial")
        , state(device, driver.memory())
        , transport(state, msi, intx, 10)
    {
        transport.assign_bar_as_firmware(0xe0000000);
    }
    template<typename T>
    T config(std::uint16_t offset)
    {
        T value {};
        transport.read_config(offset, std::span(reinterpret_cast<std::uint8_t*>(&value), sizeof value));
        return value;
    }
    template<typename T>
    void set_config(std::uint16_t offset, T value)
    {
        transport.write_config(offset, std::span(reinterpret_cast<const std::uint8_t*>(&value), sizeof value));
    }
    template<typename T>
    T bar(std::uint64_t offset)
    {
        T value {};
        transport.bar().read(offset, std::span(reinterpret_cast<std::uint8_t*>(&value), sizeof value));
        return value;
    }
    template<typename T>
    void set_bar(std::uint64_t offset, T value)
    {
        transport.bar().write(offset, std::span(reinterpret_cast<const std::uint8_t*>(&value), sizeof value));
    }
    // §3.1.1 through the common configuration; returns whether FEATURES_OK stuck.
    bool initialize()
    {
        set_bar<std::uint8_t>(device_status, 0);
        set_bar<std::uint8_t>(device_status, status::acknowledge | status::driver);
        set_bar<std::uint32_t>(driver_feature_select, 1);
        set_bar<std::uint32_t>(driver_feature, 1);
        set_bar<std::uint8_t>(device_status, status::acknowledge | status::driver | status::features_ok);
        if (!(bar<std::uint8_t>(device_status) & status::features_ok))
            return false;
        auto addresses = driver.addresses();
        set_bar<std::uint16_t>(queue_select, 0);
        set_bar<std::uint16_t>(queue_size, addresses.size);
        set_bar<std::uint16_t>(queue_msix_vector, 0);
        // A 64-bit address written as two halves, as many drivers do.
        set_bar<std::uint32_t>(queue_desc, static_cast<std::uint32_t>(addresses.descriptor_table));
        set_bar<std::uint32_t>(queue_desc + 4, 0);
        set_bar<std::uint64_t>(queue_driver, addresses.available_ring);
        set_bar<std::uint64_t>(queue_device, addresses.used_ring);
        set_bar<std::uint16_t>(queue_enable, 1);
        set_bar<std::uint8_t>(device_status, status::acknowledge | status::driver | status::features_ok | status::driver_ok);
        return true;
    }
    std::uint8_t flush()
    {
        std::vector<std::uint8_t> header(16, 0);
        header[0] = static_cast<std::uint8_t>(devices::virtio_blk::request_flush);
        auto status_buffer = driver.buffer(1, true);
        driver.memory().write<std::uint8_t>(status_buffer.address, 0xaa);
        driver.submit({ driver.readable(header), status_buffer });
        set_bar<std::uint16_t>(notify, 0);
        return driver.memory().read<std::uint8_t>(status_buffer.address);
    }

    test::TemporaryFile file;
    backends::FileBackend backend;
    devices::VirtioBlk device;
    test::VirtioDriverMock driver;
    DeviceState state;
    test::RecordingMsiDelivery msi;
    test::RecordingLine intx;
    PciTransport transport;
};

} // namespace

TEST_CASE("virtio-pci identifies a modern block device and lists its structures in capabilities", "[virtio][pci]")
{
    Rig rig;
    CHECK(rig.config<std::uint16_t>(0) == 0x1af4);
    CHECK(rig.config<std::uint16_t>(2) == 0x1042);
    CHECK(rig.config<std::uint8_t>(8) >= 1);
    CHECK(rig.config<std::uint16_t>(0x2e) >= 0x40);
    std::map<std::uint8_t, std::pair<std::uint32_t, std::uint32_t>> structures;
    bool has_msix = false;
    std::uint32_t multiplier = 0;
    for (std::uint8_t pointer = rig.config<std::uint8_t>(0x34); pointer; pointer = rig.config<std::uint8_t>(pointer + 1)) {
        std::uint8_t id = rig.config<std::uint8_t>(pointer);
        if (id == 0x11) {
            has_msix = true;
            CHECK((rig.config<std::uint16_t>(pointer + 2) & 0x7ff) + 1 == 2); // one queue + config
            CHECK(rig.config<std::uint32_t>(pointer + 4) == msix_table);
            continue;
        }
        REQUIRE(id == 0x09);
        std::uint8_t type = rig.config<std::uint8_t>(pointer + 3);
        CHECK(rig.config<std::uint8_t>(pointer + 4) == 0); // all in BAR0
        structures[type] = { rig.config<std::uint32_t>(pointer + 8), rig.config<std::uint32_t>(pointer + 12) };
        if (type == cap_notify)
            multiplier = rig.config<std::uint32_t>(pointer + 16);
    }
    CHECK(has_msix);
    CHECK(structures.size() == 5);
    CHECK(structures[cap_common].first == common);
    CHECK(structures[cap_common].second >= 0x38);
    CHECK(structures[cap_isr].first == isr);
    CHECK(structures[cap_device].first == device);
    CHECK(structures[cap_notify].first == notify);
    CHECK(multiplier == notify_multiplier);
    CHECK(rig.transport.decoded_bar_address() == 0xe0000000);
}

TEST_CASE("a driver initialises virtio-pci and gets an MSI-X vector per completion", "[virtio][pci]")
{
    Rig rig;
    CHECK(rig.bar<std::uint16_t>(num_queues) == 1);
    REQUIRE(rig.initialize());
    CHECK(rig.bar<std::uint64_t>(queue_desc) == test::mock_descriptor_table);
    CHECK(rig.bar<std::uint16_t>(queue_enable) == 1);
    CHECK(rig.bar<std::uint16_t>(queue_msix_vector) == 0);
    rig.set_bar<std::uint16_t>(config_msix_vector, 9); // no such vector
    CHECK(rig.bar<std::uint16_t>(config_msix_vector) == no_vector);
    rig.set_bar<std::uint16_t>(config_msix_vector, 1);
    CHECK(rig.bar<std::uint16_t>(config_msix_vector) == 1);

    // Turn MSI-X on and program vector 0 (unmasked).
    std::uint8_t msix_capability = 0;
    for (std::uint8_t pointer = rig.config<std::uint8_t>(0x34); pointer; pointer = rig.config<std::uint8_t>(pointer + 1))
        if (rig.config<std::uint8_t>(pointer) == 0x11)
            msix_capability = pointer;
    rig.set_config<std::uint16_t>(msix_capability + 2, 0x8000);
    rig.set_bar<std::uint64_t>(msix_table, 0xfee00000);
    rig.set_bar<std::uint32_t>(msix_table + 8, 0x45);
    rig.set_bar<std::uint32_t>(msix_table + 12, 0);
    REQUIRE(rig.msi.routes[0]);
    CHECK(rig.msi.routes[0]->data == 0x45);

    CHECK(rig.flush() == devices::virtio_blk::status_ok);
    CHECK(rig.msi.signals == std::vector<std::uint16_t> { 0 });
    CHECK_FALSE(rig.intx.asserted());
    CHECK(rig.transport.msi_messages_sent() == 1);

    // Reset puts the vectors back to NO_VECTOR.
    rig.set_bar<std::uint8_t>(device_status, 0);
    CHECK(rig.bar<std::uint16_t>(config_msix_vector) == no_vector);
    CHECK(rig.bar<std::uint16_t>(queue_enable) == 0);
}

TEST_CASE("without MSI-X virtio-pci falls back to INTx and a read-to-clear ISR", "[virtio][pci]")
{
    Rig rig;
    REQUIRE(rig.initialize());
    CHECK(rig.flush() == devices::virtio_blk::status_ok);
    CHECK(rig.intx.asserted());
    CHECK(rig.bar<std::uint8_t>(isr) == 1);
    CHECK_FALSE(rig.intx.asserted());
    CHECK(rig.bar<std::uint8_t>(isr) == 0);
    CHECK(rig.transport.intx_interrupts() == 1);
    rig.transport.config_changed();
    CHECK(rig.bar<std::uint8_t>(isr) == 2);
    CHECK(rig.config<std::uint8_t>(0x3d) == 1); // INTA#
    CHECK(rig.config<std::uint8_t>(0x3c) == 10);
}

TEST_CASE("virtio-pci notification addresses follow BAR0", "[virtio][pci]")
{
    Rig rig;
    auto matches = rig.transport.notification_matches();
    REQUIRE(matches.size() == 1);
    CHECK(matches[0].address == 0xe0000000 + notify);
    CHECK(matches[0].length == 2);
    unsigned changes = 0;
    rig.transport.on_bar_change([&] { ++changes; });
    rig.set_config<std::uint32_t>(0x10, 0xd0000000);
    CHECK(changes == 1);
    CHECK(rig.transport.notification_matches()[0].address == 0xd0000000 + notify);
    rig.set_config<std::uint16_t>(0x04, 0); // memory decoding off: nothing to match
    CHECK(rig.transport.notification_matches().empty());
    CHECK_FALSE(rig.transport.decoded_bar_address());
}

TEST_CASE("the PCI configuration access capability reaches BAR0", "[virtio][pci]")
{
    Rig rig;
    std::uint8_t window = 0;
    for (std::uint8_t pointer = rig.config<std::uint8_t>(0x34); pointer; pointer = rig.config<std::uint8_t>(pointer + 1))
        if (rig.config<std::uint8_t>(pointer) == 0x09 && rig.config<std::uint8_t>(pointer + 3) == cap_pci_cfg)
            window = pointer;
    REQUIRE(window);
    rig.set_config<std::uint8_t>(window + 4, 0);
    rig.set_config<std::uint32_t>(window + 8, num_queues);
    rig.set_config<std::uint32_t>(window + 12, 2);
    CHECK(rig.config<std::uint16_t>(window + 16) == 1);
}
