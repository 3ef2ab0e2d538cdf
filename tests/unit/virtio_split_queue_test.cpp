// The split virtqueue (virtio 1.2 §2.7) against a driver-side mock: what a well-behaved driver
// publishes comes out as chains, and every way a hostile driver can break the rules is a
// DriverError — never a crash, never a read outside guest memory.

#include <stepvmm/virtio/split_queue.hpp>
#include <virtio_driver_mock.hpp>

#include <catch2/catch.hpp>

using namespace stepvmm;
using namespace stepvmm::virtio;
using test::MockBuffer;
using test::VirtioDriverMock;

namespace {

SplitQueue enabled_queue(const VirtioDriverMock& driver, QueueFeatures features = {})
{
    SplitQueue queue;
    queue.enable(driver.memory(), driver.addresses(), features);
    return queue;
}

} // namespace

TEST_CASE("a direct chain comes out with its readable and writable buffers in order", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver);
    CHECK_FALSE(queue.pop(driver.memory()));

    MockBuffer header = driver.buffer(16, false), data = driver.buffer(512, true), status = driver.buffer(1, true);
    auto head = driver.submit({ header, data, status });
    auto chain = queue.pop(driver.memory());
    REQUIRE(chain);
    CHECK(chain->head == head);
    REQUIRE(chain->readable.size() == 1);
    REQUIRE(chain->writable.size() == 2);
    CHECK(chain->readable[0].address == header.address);
    CHECK(chain->writable[0].length == 512);
    CHECK(chain->descriptor_count == 3);
    CHECK_FALSE(chain->used_indirect_table);
    CHECK_FALSE(queue.pop(driver.memory()));
}

TEST_CASE("an indirect table is resolved into the same buffers", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver, QueueFeatures { .indirect_descriptors = true });
    auto head = driver.add_indirect_chain({ driver.buffer(16, false), driver.buffer(4096, false), driver.buffer(1, true) });
    driver.publish(head);
    auto chain = queue.pop(driver.memory());
    REQUIRE(chain);
    CHECK(chain->used_indirect_table);
    CHECK(chain->readable.size() == 2);
    CHECK(chain->writable.size() == 1);
    CHECK(chain->readable_stream(driver.memory()).size() == 16 + 4096);
}

TEST_CASE("buffer streams hide how the driver split a request", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver);
    std::vector<std::uint8_t> first { 1, 2, 3 }, second { 4, 5, 6, 7, 8 };
    driver.submit({ driver.readable(first), driver.readable(second), driver.buffer(4, true), driver.buffer(4, true) });
    auto chain = queue.pop(driver.memory());
    REQUIRE(chain);
    auto readable = chain->readable_stream(driver.memory());
    std::vector<std::uint8_t> middle(4);
    readable.read(2, middle);
    CHECK(middle == std::vector<std::uint8_t> { 3, 4, 5, 6 });

    auto writable = chain->writable_stream(driver.memory());
    std::vector<std::uint8_t> answer { 9, 8, 7, 6, 5 };
    writable.write(2, answer);
    CHECK(driver.read(chain->writable[0].address, 4) == std::vector<std::uint8_t> { 0, 0, 9, 8 });
    CHECK(driver.read(chain->writable[1].address, 4) == std::vector<std::uint8_t> { 7, 6, 5, 0 });
    CHECK_THROWS_AS(writable.write(6, answer), std::out_of_range);
}

TEST_CASE("used elements and the used index reach the driver", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver);
    auto first = driver.submit({ driver.buffer(1, true) });
    auto second = driver.submit({ driver.buffer(1, true) });
    auto a = queue.pop(driver.memory());
    auto b = queue.pop(driver.memory());
    REQUIRE((a && b));
    queue.add_used(driver.memory(), b->head, 7);
    queue.add_used(driver.memory(), a->head, 1);
    CHECK(driver.used_index() == 2);
    CHECK(driver.used(0).id == second);
    CHECK(driver.used(0).length == 7);
    CHECK(driver.used(1).id == first);
}

TEST_CASE("16-bit ring indices wrap around", "[virtio][queue]")
{
    VirtioDriverMock driver(4);
    auto queue = enabled_queue(driver);
    for (unsigned round = 0; round < 70000; ++round) {
        driver.submit({ driver.buffer(0, true) });
        auto chain = queue.pop(driver.memory());
        REQUIRE(chain);
        queue.add_used(driver.memory(), chain->head, 0);
    }
    // Both indices ran past 65535 and carried on from 0 without the device losing its place.
    CHECK(queue.used_index() == static_cast<std::uint16_t>(70000));
    CHECK(driver.used_index() == static_cast<std::uint16_t>(70000));
    CHECK(queue.next_available_index() == driver.available_index());
}

TEST_CASE("without EVENT_IDX the driver's NO_INTERRUPT flag decides", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver);
    CHECK_FALSE(queue.should_notify_driver(driver.memory())); // nothing published yet
    driver.submit({ driver.buffer(1, true) });
    auto chain = queue.pop(driver.memory());
    queue.add_used(driver.memory(), chain->head, 1);
    CHECK(queue.should_notify_driver(driver.memory()));

    driver.set_available_flags(ring::available_no_interrupt);
    driver.submit({ driver.buffer(1, true) });
    chain = queue.pop(driver.memory());
    queue.add_used(driver.memory(), chain->head, 1);
    CHECK_FALSE(queue.should_notify_driver(driver.memory()));
}

TEST_CASE("with EVENT_IDX the device notifies only when used_event is crossed", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver, QueueFeatures { .event_index = true });
    // The driver wants to hear when the third buffer (index 2) is used.
    driver.set_used_event(2);
    for (int i = 0; i < 4; ++i)
        driver.submit({ driver.buffer(1, true) });
    std::vector<bool> decisions;
    for (int i = 0; i < 4; ++i) {
        auto chain = queue.pop(driver.memory());
        REQUIRE(chain);
        queue.add_used(driver.memory(), chain->head, 1);
        decisions.push_back(queue.should_notify_driver(driver.memory()));
    }
    CHECK(decisions == std::vector<bool> { false, false, true, false });

    // Batched: two used at once, used_event inside the batch.
    driver.set_used_event(5);
    for (int i = 0; i < 2; ++i)
        driver.submit({ driver.buffer(1, true) });
    for (int i = 0; i < 2; ++i) {
        auto chain = queue.pop(driver.memory());
        queue.add_used(driver.memory(), chain->head, 1);
    }
    CHECK(queue.should_notify_driver(driver.memory()));
}

TEST_CASE("with EVENT_IDX the device asks for the next kick through avail_event", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver, QueueFeatures { .event_index = true });
    driver.submit({ driver.buffer(1, true) });
    driver.submit({ driver.buffer(1, true) });
    while (queue.pop(driver.memory())) { }
    CHECK(driver.avail_event() == 2);
}

TEST_CASE("enable() refuses what the spec forbids", "[virtio][queue]")
{
    VirtioDriverMock driver;
    SplitQueue queue;
    auto addresses = driver.addresses();
    auto with = [&](auto change) {
        auto changed = addresses;
        change(changed);
        return changed;
    };
    CHECK_THROWS_AS(queue.enable(driver.memory(), with([](auto& a) { a.size = 12; }), {}), DriverError);
    CHECK_THROWS_AS(queue.enable(driver.memory(), with([](auto& a) { a.size = 0; }), {}), DriverError);
    CHECK_THROWS_AS(queue.enable(driver.memory(), with([](auto& a) { a.descriptor_table += 8; }), {}), DriverError);
    CHECK_THROWS_AS(queue.enable(driver.memory(), with([](auto& a) { a.used_ring += 2; }), {}), DriverError);
    CHECK_THROWS_AS(queue.enable(driver.memory(), with([](auto& a) { a.used_ring = test::mock_memory_size - 4; }), {}), DriverError);
    CHECK_FALSE(queue.enabled());
}

TEST_CASE("hostile chains are DriverErrors", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver);
    const auto& memory = driver.memory();

    SECTION("a descriptor loop")
    {
        driver.write_descriptor(0, test::mock_heap, 8, ring::descriptor_next, 1);
        driver.write_descriptor(1, test::mock_heap, 8, ring::descriptor_next, 0);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("next outside the table")
    {
        driver.write_descriptor(0, test::mock_heap, 8, ring::descriptor_next, 16);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("a head outside the table")
    {
        driver.publish(99);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("a buffer outside guest memory")
    {
        driver.write_descriptor(0, test::mock_memory_size - 4, 8, 0, 0);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("a buffer whose end wraps around 2^64")
    {
        driver.write_descriptor(0, ~std::uint64_t { 0 } - 2, 8, 0, 0);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("a device-readable buffer after a device-writable one")
    {
        driver.submit({ driver.buffer(4, true), driver.buffer(4, false) });
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("an available index jump larger than the queue")
    {
        driver.set_available_index(17);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("an indirect descriptor that was not negotiated")
    {
        driver.publish(driver.add_indirect_chain({ driver.buffer(1, true) }));
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
}

TEST_CASE("hostile indirect tables are DriverErrors", "[virtio][queue]")
{
    VirtioDriverMock driver;
    auto queue = enabled_queue(driver, QueueFeatures { .indirect_descriptors = true });
    const auto& memory = driver.memory();
    std::uint64_t table = driver.allocate(64);

    SECTION("an indirect table inside an indirect table")
    {
        memory.write(table, table);
        memory.write(table + 8, std::uint32_t { 16 });
        memory.write(table + 12, ring::descriptor_indirect);
        driver.write_descriptor(0, table, 16, ring::descriptor_indirect, 0);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("INDIRECT together with NEXT")
    {
        driver.write_descriptor(0, table, 16, ring::descriptor_indirect | ring::descriptor_next, 1);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("a table length that is not a multiple of 16")
    {
        driver.write_descriptor(0, table, 24, ring::descriptor_indirect, 0);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("a table longer than the queue")
    {
        driver.write_descriptor(0, test::mock_heap, 16 * 17, ring::descriptor_indirect, 0);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
    SECTION("a loop inside the table")
    {
        memory.write(table, test::mock_heap);
        memory.write(table + 8, std::uint32_t { 4 });
        memory.write(table + 12, ring::descriptor_next);
        memory.write(table + 14, std::uint16_t { 0 });
        driver.write_descriptor(0, table, 16, ring::descriptor_indirect, 0);
        driver.publish(0);
        CHECK_THROWS_AS(queue.pop(memory), DriverError);
    }
}
