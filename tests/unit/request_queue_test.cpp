// The chapter-04 request queue, driven the way its guest driver drives it: lay out the header
// and the ring in guest RAM, configure through the registers, offer requests by advancing
// `submitted`, kick, check every answer. Guest RAM is the PC layout of 8 MiB with the hole at
// 4 MiB, so queues can straddle the end of RAM and the hole:
//   low RAM  [0, 4 MiB)
//   hole     [4 MiB, 4 GiB)
//   high RAM [4 GiB, 4 GiB + 4 MiB)

#include <stepvmm/app/log.hpp>
#include <stepvmm/devices/request_queue.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <request_queue_abi.h>

#include <catch2/catch.hpp>
#include <recording_line.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

using namespace stepvmm;
using devices::RequestQueue;
using devices::requests_offered;

using stepvmm::test::RecordingLine;

namespace {

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t low_end = 4 * mib;
constexpr std::uint64_t high_start = four_gib;
constexpr std::uint64_t high_end = four_gib + 4 * mib;
constexpr std::uint64_t queue_address = 0x10000; // in low RAM, page aligned

constexpr std::uint32_t ready = REQUEST_QUEUE_STATUS_READY;
constexpr std::uint32_t broken = REQUEST_QUEUE_STATUS_BROKEN;

// What a request's output holds before the device answers it: the driver clears it to this.
constexpr std::uint64_t unanswered = 0x0bad'0bad'0bad'0badULL;

constexpr std::uint64_t queue_bytes(std::uint32_t size) { return 8 + 16 * std::uint64_t { size }; }

GuestMemory make_pc_memory() { return GuestMemory(pc_memory_layout(8 * mib, 4 * mib), Backing::Anonymous4K); }

// The input a driver puts into its n-th request: distinct for every n, and nothing like n.
std::uint64_t input_for(std::uint64_t serial) { return serial * 0x0000'0100'0000'01b3ULL + 0x1234'5678; }

// Warnings about broken queues are expected here; hundreds of them would bury the output of
// a failing test.
class QuietLog {
public:
    QuietLog()
        : m_saved(log::level())
    {
        log::set_level(log::Level::Error);
    }
    ~QuietLog() { log::set_level(m_saved); }
    QuietLog(const QuietLog&) = delete;
    QuietLog& operator=(const QuietLog&) = delete;

private:
    log::Level m_saved;
};

// The guest side: a driver that keeps its queue at `address` in guest RAM and reaches the
// device through 32-bit register accesses, as eventfd.c does with outl/MMIO stores.
class Driver {
public:
    Driver(const GuestMemory& memory, RequestQueue& queue, std::uint64_t address)
        : m_memory(memory)
        , m_queue(queue)
        , m_address(address)
    {
    }

    void write_register(std::uint64_t offset, std::uint32_t value)
    {
        std::array<std::uint8_t, 4> bytes {};
        for (std::size_t index = 0; index < bytes.size(); ++index)
            bytes[index] = static_cast<std::uint8_t>(value >> (8 * index));
        m_queue.write(offset, bytes);
    }
    std::uint32_t read_register(std::uint64_t offset)
    {
        std::array<std::uint8_t, 4> bytes {};
        m_queue.read(offset, bytes);
        return static_cast<std::uint32_t>(bytes[0] | bytes[1] << 8 | bytes[2] << 16) | std::uint32_t { bytes[3] } << 24;
    }
    std::uint32_t status() { return read_register(REQUEST_QUEUE_STATUS); }

    // Address registers, then SIZE; both indices start from 0 (the driver zeroes `submitted`
    // first when its queue is in RAM).
    void configure(std::uint32_t size)
    {
        m_size = size;
        m_submitted = 0;
        if (m_memory.translate(m_address, 8))
            set_submitted(0);
        write_register(REQUEST_QUEUE_ADDRESS_LOW, static_cast<std::uint32_t>(m_address));
        write_register(REQUEST_QUEUE_ADDRESS_HIGH, static_cast<std::uint32_t>(m_address >> 32));
        write_register(REQUEST_QUEUE_SIZE, size);
    }

    // Fills the next `count` requests (input_for(index), output cleared), then offers them.
    void submit(std::uint32_t count)
    {
        for (std::uint32_t n = 0; n < count; ++n) {
            std::uint32_t index = m_submitted + n;
            m_memory.write<std::uint64_t>(request_address(index), input_for(index));
            m_memory.write<std::uint64_t>(request_address(index) + 8, unanswered);
        }
        m_submitted += count;
        set_submitted(m_submitted); // a release store: the requests before the index
    }

    void kick() { write_register(REQUEST_QUEUE_DOORBELL, m_submitted); }

    // How many of the requests [first, first + count) do not hold their answer.
    std::size_t wrong_answers(std::uint32_t first, std::uint32_t count) const
    {
        std::size_t wrong = 0;
        for (std::uint32_t n = 0; n < count; ++n) {
            std::uint32_t index = first + n;
            if (output(index) != request_queue_answer(input_for(index)))
                ++wrong;
        }
        return wrong;
    }

    // The header's indices, as shared memory between two agents.
    void set_submitted(std::uint32_t value) { index_at(0).store(value, std::memory_order_release); }
    [[nodiscard]] std::uint32_t completed() const { return index_at(4).load(std::memory_order_acquire); }
    void set_completed(std::uint32_t value) { index_at(4).store(value, std::memory_order_relaxed); }

    [[nodiscard]] std::uint64_t output(std::uint32_t index) const { return m_memory.read<std::uint64_t>(request_address(index) + 8); }
    void set_output(std::uint32_t index, std::uint64_t value) { m_memory.write<std::uint64_t>(request_address(index) + 8, value); }
    void set_input(std::uint32_t index, std::uint64_t value) { m_memory.write<std::uint64_t>(request_address(index), value); }
    [[nodiscard]] std::uint32_t submitted() const { return m_submitted; }
    void pretend_submitted(std::uint32_t value) { m_submitted = value; }

private:
    [[nodiscard]] std::uint64_t request_address(std::uint32_t index) const { return m_address + 8 + 16 * std::uint64_t { index & (m_size - 1) }; }
    [[nodiscard]] std::atomic_ref<std::uint32_t> index_at(std::uint64_t offset) const
    {
        return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(m_memory.at(m_address + offset, 4).data()));
    }

    const GuestMemory& m_memory;
    RequestQueue& m_queue;
    std::uint64_t m_address;
    std::uint32_t m_size = 1;
    std::uint32_t m_submitted = 0;
};

// A device on fresh guest RAM, its completion line and a driver with its queue at `address`.
// Tests break the device on purpose, so its warnings are kept out of the test output.
struct Bench {
    explicit Bench(std::uint64_t address = queue_address)
        : queue("request-queue", memory, line)
        , driver(memory, queue, address)
    {
    }

    QuietLog quiet;
    GuestMemory memory = make_pc_memory();
    RecordingLine line;
    RequestQueue queue;
    Driver driver;
};

}

TEST_CASE("a configured queue answers one request, advances completed and pulses once", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    REQUIRE(driver.status() == 0);
    driver.set_completed(0xdead'beef); // whatever the guest left there
    driver.configure(16);
    REQUIRE(driver.status() == ready);
    CHECK(driver.completed() == 0); // configuring starts the device's index from 0

    driver.submit(1);
    driver.kick();
    CHECK(driver.output(0) == request_queue_answer(input_for(0)));
    CHECK(driver.completed() == 1);
    CHECK(bench.line.rising_edges() == 1);
    CHECK_FALSE(bench.line.asserted()); // a pulse: raised, then lowered

    auto statistics = bench.queue.statistics();
    CHECK(statistics.requests == 1);
    CHECK(statistics.kicks == 1);
    CHECK(statistics.external_kicks == 0);
    CHECK(statistics.notifications == 1);
    CHECK(statistics.broken_events == 0);
    CHECK(statistics.protocol_errors == 0);
}

TEST_CASE("the answer is request_queue_answer of the input, for any input", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(4);
    const std::array<std::uint64_t, 4> inputs { 0, ~0ULL, 0x53544550564d4dULL, 1ULL << 63 };
    for (std::uint32_t index = 0; index < inputs.size(); ++index)
        driver.set_input(index, inputs[index]);
    driver.set_submitted(4);
    REQUIRE(bench.queue.process() == 4);
    for (std::uint32_t index = 0; index < inputs.size(); ++index)
        CHECK(driver.output(index) == request_queue_answer(inputs[index]));
    // The answer function itself, worked by hand: (0 ^ "STEPVMM") * golden ratio mod 2^64.
    CHECK(request_queue_answer(0) == 0x53544550564d4dULL * 0x9e3779b97f4a7c15ULL);
    CHECK(request_queue_answer(0x53544550564d4dULL) == 0);
}

TEST_CASE("a batch of 100 requests in one kick raises one interrupt", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(128);
    driver.submit(100);
    driver.kick();
    CHECK(driver.completed() == 100);
    CHECK(driver.wrong_answers(0, 100) == 0);
    CHECK(bench.line.rising_edges() == 1);
    auto statistics = bench.queue.statistics();
    CHECK(statistics.requests == 100);
    CHECK(statistics.kicks == 1);
    CHECK(statistics.notifications == 1);
}

TEST_CASE("the ring wraps: many rounds through a queue of 8", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(8);
    std::uint32_t rounds = 0;
    for (std::uint32_t count : { 3u, 8u, 5u, 1u, 7u, 8u, 2u, 6u, 8u, 4u, 8u, 8u, 1u }) {
        std::uint32_t first = driver.submitted();
        driver.submit(count);
        driver.kick();
        ++rounds;
        INFO("round " << rounds << ": requests " << first << " to " << first + count - 1);
        REQUIRE(driver.completed() == first + count);
        CHECK(driver.wrong_answers(first, count) == 0);
        CHECK(bench.line.rising_edges() == rounds);
    }
    CHECK(bench.queue.statistics().requests == driver.submitted());
    CHECK(driver.submitted() > 8 * 8); // the slots were reused many times over
}

TEST_CASE("requests_offered is the distance modulo 2^32 and refuses more than the queue", "[request_queue]")
{
    // At compile time, and again at run time so a failure is reported like any other.
    static_assert(requests_offered(5, 0xffff'fffeU, 8) == 7u);
    CHECK(requests_offered(0, 0, 1) == 0u);
    CHECK(requests_offered(1, 0, 1) == 1u);
    CHECK(requests_offered(2, 0, 1) == std::nullopt);
    // Across the 32-bit wrap: 0xfffffffe, 0xffffffff, 0, ..., 4 are seven requests.
    CHECK(requests_offered(5, 0xffff'fffeU, 8) == 7u);
    CHECK(requests_offered(0, 0xffff'fff8U, 8) == 8u);
    CHECK(requests_offered(1, 0xffff'fff8U, 8) == std::nullopt);
    CHECK(requests_offered(0x400, 0, 1024) == 1024u);
    CHECK(requests_offered(0x401, 0, 1024) == std::nullopt);
    // Moving `submitted` backwards is a jump of nearly 2^32, not a negative count.
    CHECK(requests_offered(3, 5, 8) == std::nullopt);
    CHECK(requests_offered(0xffff'ffffU, 0, 1024) == std::nullopt);
}

TEST_CASE("a jump in submitted larger than the queue breaks the device, which serves nothing", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(8);
    for (std::uint32_t index = 0; index < 8; ++index) {
        driver.set_input(index, input_for(index));
        driver.set_output(index, unanswered);
    }
    driver.set_completed(0x5555'5555); // so a write of `completed` would show

    std::uint32_t bad_submitted = 0;
    SECTION("one more than the queue holds") { bad_submitted = 9; }
    SECTION("minus one: a jump of 2^32 - 1") { bad_submitted = 0xffff'ffff; }
    SECTION("half the index space") { bad_submitted = 0x8000'0000; }
    driver.set_submitted(bad_submitted);
    driver.write_register(REQUEST_QUEUE_DOORBELL, 8); // the doorbell's value is not believed either

    CHECK(driver.status() == broken);
    CHECK(bench.line.rising_edges() == 0);
    for (std::uint32_t index = 0; index < 8; ++index)
        CHECK(driver.output(index) == unanswered);
    CHECK(driver.completed() == 0x5555'5555);
    auto statistics = bench.queue.statistics();
    CHECK(statistics.broken_events == 1);
    CHECK(statistics.requests == 0);
    CHECK(statistics.notifications == 0);

    // Broken stays broken, whatever the guest offers now...
    driver.set_submitted(1);
    CHECK(bench.queue.process() == 0);
    driver.kick();
    CHECK(driver.status() == broken);
    CHECK(driver.output(0) == unanswered);
    CHECK(bench.queue.statistics().broken_events == 1); // one event, not one per kick

    // ...until SIZE is written again.
    driver.configure(8);
    CHECK(driver.status() == ready);
    driver.submit(8);
    driver.kick();
    CHECK(driver.completed() == 8);
    CHECK(driver.wrong_answers(0, 8) == 0);
    CHECK(bench.line.rising_edges() == 1);
}

TEST_CASE("exactly a full queue is served; moving submitted backwards breaks the device", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(8);
    driver.submit(8);
    REQUIRE(bench.queue.process() == 8);
    CHECK(driver.wrong_answers(0, 8) == 0);
    driver.submit(5);
    REQUIRE(bench.queue.process() == 5);
    REQUIRE(driver.status() == ready);

    driver.set_submitted(11); // back from 13: the guest takes back requests already answered
    CHECK(bench.queue.process() == 0);
    CHECK(driver.status() == broken);
    CHECK(driver.completed() == 13);
    CHECK(bench.line.rising_edges() == 2);
}

TEST_CASE("the device keeps its own count and ignores what the guest writes into completed", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(8);
    driver.submit(3);
    driver.kick();
    REQUIRE(driver.completed() == 3);

    driver.set_completed(1000); // would make 5 - 1000 look like a huge jump, or like 0 offered
    driver.submit(2);
    driver.kick();
    CHECK(driver.status() == ready);
    CHECK(driver.completed() == 5);
    CHECK(driver.wrong_answers(3, 2) == 0);
    CHECK(bench.queue.statistics().requests == 5);
}

TEST_CASE("the doorbell's value is informational: the header's submitted decides", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(16);
    driver.submit(2);
    std::uint32_t claimed = GENERATE(0u, 1u, 2u, 100u, 0xffff'ffffu);
    driver.write_register(REQUEST_QUEUE_DOORBELL, claimed);
    CHECK(driver.status() == ready);
    CHECK(driver.completed() == 2);
    CHECK(driver.wrong_answers(0, 2) == 0);
    CHECK(bench.queue.statistics().kicks == 1);
}

TEST_CASE("a queue in high RAM, above the hole, is configured through ADDRESS_HIGH", "[request_queue]")
{
    Bench bench(high_start + 0x2000);
    Driver& driver = bench.driver;
    driver.configure(32);
    REQUIRE(driver.status() == ready);
    CHECK(driver.read_register(REQUEST_QUEUE_ADDRESS_LOW) == 0x2000);
    CHECK(driver.read_register(REQUEST_QUEUE_ADDRESS_HIGH) == 1);
    CHECK(driver.read_register(REQUEST_QUEUE_SIZE) == 32);
    driver.submit(20);
    driver.kick();
    CHECK(driver.completed() == 20);
    CHECK(driver.wrong_answers(0, 20) == 0);
    CHECK(bench.memory.read<std::uint32_t>(queue_address + 4) == 0); // not low RAM at the same offset
}

TEST_CASE("a queue that ends exactly at the end of RAM is accepted", "[request_queue]")
{
    std::uint64_t address = GENERATE(low_end - queue_bytes(8), high_end - queue_bytes(8));
    Bench bench(address);
    bench.driver.configure(8);
    REQUIRE(bench.driver.status() == ready);
    bench.driver.submit(8);
    bench.driver.kick();
    CHECK(bench.driver.completed() == 8);
    CHECK(bench.driver.wrong_answers(0, 8) == 0);
}

TEST_CASE("a queue that is not entirely in RAM, or misaligned, breaks the device at the SIZE write", "[request_queue]")
{
    std::uint64_t address = GENERATE(
        low_end - queue_bytes(8) + 8,   // its last request straddles the end of low RAM
        low_end - 8,                     // only the header is RAM
        low_end,                         // in the hole
        std::uint64_t { 3 } << 30,       // deep in the hole
        high_start - 8,                  // the header in the hole, the ring in high RAM
        high_end - queue_bytes(8) + 16,  // straddles the end of high RAM
        high_end,                        // past all RAM
        0xffff'ffff'ffff'fff8ULL,        // address + length overflows 2^64
        queue_address + 4);              // in RAM, but not 8-byte aligned
    INFO("queue at " << std::hex << address);
    Bench bench(address);
    Driver& driver = bench.driver;
    driver.configure(8);
    CHECK(driver.status() == broken);
    CHECK(bench.queue.statistics().broken_events == 1);

    driver.kick(); // nothing to serve, and nothing to touch
    CHECK(bench.queue.process() == 0);
    CHECK(driver.status() == broken);
    CHECK(bench.line.rising_edges() == 0);
    CHECK(bench.queue.statistics().requests == 0);
}

TEST_CASE("SIZE must be a power of two no larger than 1024", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;

    SECTION("other sizes break the device")
    {
        std::uint32_t size = GENERATE(3u, 6u, 12u, 1000u, 1023u, 1025u, 2048u, 0x8000'0000u, 0xffff'ffffu);
        INFO("SIZE " << size);
        driver.configure(size);
        CHECK(driver.status() == broken);
        CHECK(driver.read_register(REQUEST_QUEUE_SIZE) == size); // read back as written
        driver.pretend_submitted(1);
        driver.set_submitted(1);
        driver.kick();
        CHECK(bench.line.rising_edges() == 0);
        CHECK(bench.queue.statistics().requests == 0);
    }
    SECTION("every power of two up to 1024 works")
    {
        for (std::uint32_t size = 1; size <= RequestQueue::max_size; size *= 2) {
            INFO("SIZE " << size);
            driver.configure(size);
            REQUIRE(driver.status() == ready);
            driver.submit(size);
            driver.kick();
            CHECK(driver.completed() == size);
            CHECK(driver.wrong_answers(0, size) == 0);
        }
        CHECK(bench.queue.statistics().broken_events == 0);
    }
    CHECK(RequestQueue::max_size == REQUEST_QUEUE_MAX_SIZE);
}

TEST_CASE("SIZE 0 disables the device and also clears BROKEN", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    SECTION("from READY") { driver.configure(8); }
    SECTION("from BROKEN") { driver.configure(5); }
    REQUIRE(driver.status() != 0);

    driver.write_register(REQUEST_QUEUE_SIZE, 0);
    CHECK(driver.status() == 0);
    driver.pretend_submitted(0);
    driver.set_submitted(0);
    driver.configure(8); // only to know where the requests go; disabled again below
    driver.write_register(REQUEST_QUEUE_SIZE, 0);
    driver.submit(3);
    driver.set_completed(0x7777);
    driver.kick();
    CHECK(bench.queue.process() == 0);
    CHECK(driver.status() == 0);
    CHECK(driver.output(0) == unanswered);
    CHECK(driver.completed() == 0x7777);
    CHECK(bench.line.rising_edges() == 0);
}

TEST_CASE("a doorbell before configuration serves nothing", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    // Requests laid out where a queue would be, and the address registers set, but no SIZE.
    driver.write_register(REQUEST_QUEUE_ADDRESS_LOW, static_cast<std::uint32_t>(queue_address));
    for (std::uint32_t index = 0; index < 4; ++index) {
        bench.memory.write<std::uint64_t>(queue_address + 8 + 16 * index, input_for(index));
        bench.memory.write<std::uint64_t>(queue_address + 16 + 16 * index, unanswered);
    }
    bench.memory.write<std::uint32_t>(queue_address, 4);
    driver.write_register(REQUEST_QUEUE_DOORBELL, 4);
    CHECK(bench.queue.process() == 0);

    CHECK(driver.status() == 0);
    for (std::uint32_t index = 0; index < 4; ++index)
        CHECK(bench.memory.read<std::uint64_t>(queue_address + 16 + 16 * index) == unanswered);
    CHECK(bench.memory.read<std::uint32_t>(queue_address + 4) == 0);
    CHECK(bench.line.rising_edges() == 0);
    auto statistics = bench.queue.statistics();
    CHECK(statistics.kicks == 1);
    CHECK(statistics.requests == 0);
    CHECK(statistics.notifications == 0);
}

TEST_CASE("process() with nothing new returns 0 and raises nothing", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(8);
    CHECK(bench.queue.process() == 0);
    CHECK(bench.line.rising_edges() == 0);

    driver.submit(3);
    CHECK(bench.queue.process() == 3);
    CHECK(bench.queue.process() == 0);
    driver.kick(); // a kick with nothing new
    CHECK(bench.line.rising_edges() == 1);
    auto statistics = bench.queue.statistics();
    CHECK(statistics.requests == 3);
    CHECK(statistics.notifications == 1);
    CHECK(statistics.kicks == 1);
}

TEST_CASE("kicks through the register and kicks from elsewhere are counted apart", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(8);
    driver.submit(2);
    bench.queue.count_external_kick(); // what the device thread does when the ioeventfd fires
    CHECK(bench.queue.process() == 2);
    driver.submit(1);
    driver.kick();
    auto statistics = bench.queue.statistics();
    CHECK(statistics.external_kicks == 1);
    CHECK(statistics.kicks == 1);
    CHECK(statistics.notifications == 2);
    CHECK(statistics.requests == 3);
}

TEST_CASE("register accesses that are not 32-bit, aligned and in the window are protocol errors", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(8);
    REQUIRE(driver.status() == ready);
    RequestQueue& queue = bench.queue;

    SECTION("reads float and change nothing")
    {
        std::array<std::uint8_t, 8> wide {};
        std::array<std::uint8_t, 2> narrow {};
        std::array<std::uint8_t, 1> single {};
        std::array<std::uint8_t, 4> word {};
        queue.read(REQUEST_QUEUE_STATUS, wide);
        queue.read(REQUEST_QUEUE_STATUS, narrow);
        queue.read(REQUEST_QUEUE_STATUS, single);
        queue.read(REQUEST_QUEUE_STATUS + 1, word);         // unaligned
        queue.read(REQUEST_QUEUE_WINDOW_SIZE, word);        // past the window
        queue.read(0xffff'ffff'ffff'fffcULL, word);          // far past it
        queue.read(REQUEST_QUEUE_STATUS, std::span<std::uint8_t> {}); // zero bytes
        for (auto bytes : { std::span<const std::uint8_t>(wide), std::span<const std::uint8_t>(narrow), std::span<const std::uint8_t>(single) }) {
            for (std::uint8_t byte : bytes)
                CHECK(byte == 0xff);
        }
        CHECK(driver.read_register(REQUEST_QUEUE_DOORBELL) == 0xffff'ffff); // write-only
        CHECK(queue.statistics().protocol_errors == 8);
    }
    SECTION("writes are dropped")
    {
        std::array<std::uint8_t, 2> narrow { 0x10, 0 };
        std::array<std::uint8_t, 8> wide { 0x10, 0, 0, 0, 0, 0, 0, 0 };
        std::array<std::uint8_t, 4> word { 0x10, 0, 0, 0 };
        queue.write(REQUEST_QUEUE_SIZE, narrow);  // would make SIZE 16
        queue.write(REQUEST_QUEUE_SIZE, wide);
        queue.write(REQUEST_QUEUE_SIZE + 2, word);
        queue.write(REQUEST_QUEUE_ADDRESS_LOW, wide);
        queue.write(REQUEST_QUEUE_WINDOW_SIZE, word);
        driver.write_register(REQUEST_QUEUE_STATUS, 0); // read-only
        std::array<std::uint8_t, 1> doorbell_byte { 1 };
        driver.submit(1);
        queue.write(REQUEST_QUEUE_DOORBELL, doorbell_byte); // not a kick

        auto statistics = queue.statistics();
        CHECK(statistics.protocol_errors == 7);
        CHECK(statistics.kicks == 0);
        CHECK(statistics.requests == 0);
        CHECK(driver.status() == ready);
        CHECK(driver.read_register(REQUEST_QUEUE_SIZE) == 8);
        CHECK(driver.read_register(REQUEST_QUEUE_ADDRESS_LOW) == queue_address);
        CHECK(driver.output(0) == unanswered);
    }
    CHECK(bench.line.rising_edges() == 0);
}

TEST_CASE("the address registers take effect at the next SIZE write, not before", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    driver.configure(8);
    driver.write_register(REQUEST_QUEUE_ADDRESS_LOW, 0x50000); // latched only
    driver.submit(2);
    driver.kick();
    CHECK(driver.completed() == 2); // still the queue at queue_address
    CHECK(driver.wrong_answers(0, 2) == 0);

    Driver moved(bench.memory, bench.queue, 0x50000);
    moved.configure(8);
    REQUIRE(moved.status() == ready);
    moved.submit(3);
    moved.kick();
    CHECK(moved.completed() == 3);
    CHECK(moved.wrong_answers(0, 3) == 0);
    CHECK(driver.completed() == 2); // the old queue is left alone
}

TEST_CASE("a hostile guest cannot crash the device with any registers or queue contents", "[request_queue]")
{
    Bench bench;
    RequestQueue& queue = bench.queue;
    std::mt19937_64 random(20240404);
    auto pick = [&](auto const& choices) { return choices[random() % choices.size()]; };

    // Addresses worth trying: good ones, edges of RAM and of the hole, misaligned, absurd.
    const std::array<std::uint64_t, 9> addresses { queue_address, queue_address + 8, queue_address + 3, low_end - 24, low_end - queue_bytes(1024),
        high_start - 8, high_end - 40, 0xffff'ffff'ffff'fff0ULL, 0 };
    const std::array<std::uint32_t, 9> sizes { 0, 1, 2, 3, 8, 64, 1024, 1025, 0xffff'ffff };
    // Places the guest scribbles on: the queues above when they are RAM, header and ring.
    std::vector<std::uint64_t> scribble_targets;
    for (std::uint64_t address : addresses) {
        for (std::uint64_t offset : { 0ULL, 4ULL, 8ULL, 16ULL, 24ULL, 1000ULL }) {
            if (bench.memory.translate(address + offset, 8))
                scribble_targets.push_back(address + offset);
        }
    }
    REQUIRE(!scribble_targets.empty());

    std::uint64_t served = 0, bad_statuses = 0, served_without_pulse = 0;
    for (int step = 0; step < 20000; ++step) {
        std::uint64_t edges_before = bench.line.rising_edges();
        switch (random() % 6) {
        case 0: { // a register access of any width at any offset, in either direction
            std::vector<std::uint8_t> bytes(random() % 9);
            for (auto& byte : bytes)
                byte = static_cast<std::uint8_t>(random());
            std::uint64_t offset = random() % 2 ? random() % 0x20 : random();
            if (random() % 2)
                queue.write(offset, bytes);
            else
                queue.read(offset, bytes);
            break;
        }
        case 1: { // a plausible configuration
            std::uint64_t address = pick(addresses);
            bench.driver.write_register(REQUEST_QUEUE_ADDRESS_LOW, static_cast<std::uint32_t>(address));
            bench.driver.write_register(REQUEST_QUEUE_ADDRESS_HIGH, static_cast<std::uint32_t>(address >> 32));
            bench.driver.write_register(REQUEST_QUEUE_SIZE, pick(sizes));
            break;
        }
        case 2: // scribble on a header index or a request
            bench.memory.write<std::uint32_t>(pick(scribble_targets), static_cast<std::uint32_t>(random() % 3 ? random() % 16 : random()));
            break;
        case 3:
            bench.driver.write_register(REQUEST_QUEUE_DOORBELL, static_cast<std::uint32_t>(random()));
            break;
        default: {
            std::size_t count = queue.process();
            served += count;
            if (count > RequestQueue::max_size)
                ++bad_statuses;
            if (count > 0 && bench.line.rising_edges() != edges_before + 1)
                ++served_without_pulse;
            break;
        }
        }
        std::uint32_t status = bench.driver.status();
        if (status != 0 && status != ready && status != broken)
            ++bad_statuses;
        if (bench.line.asserted())
            ++bad_statuses;
    }
    CHECK(bad_statuses == 0);
    CHECK(served_without_pulse == 0);
    auto statistics = queue.statistics();
    CHECK(statistics.requests >= served);
    CHECK(statistics.notifications == bench.line.rising_edges());
    // The run must have exercised every outcome, or it proves little.
    CHECK(served > 0);
    CHECK(statistics.broken_events > 0);
    CHECK(statistics.protocol_errors > 0);
}

TEST_CASE("a device thread serves while the guest submits, kicks and checks, thousands of times", "[request_queue]")
{
    Bench bench;
    Driver& driver = bench.driver;
    constexpr std::uint32_t size = 64;
    constexpr std::uint32_t total = 50000;
    driver.configure(size);
    REQUIRE(driver.status() == ready);

    // The device thread: what the ioeventfd handler does, in a loop, as fast as it can.
    std::atomic<bool> stop { false };
    std::uint64_t served_by_thread = 0, external_kicks = 0;
    std::thread device_thread([&] {
        while (!stop.load(std::memory_order_acquire)) {
            bench.queue.count_external_kick();
            ++external_kicks;
            std::size_t count = bench.queue.process();
            served_by_thread += count;
            if (count == 0)
                std::this_thread::yield();
        }
    });

    // The guest, on this thread: keeps up to a queue's worth in flight, checks answers as they
    // come in and only then reuses their slots; every third batch also kicks through the
    // register, so process() runs on both threads at once.
    std::uint32_t checked = 0, batches = 0, doorbell_kicks = 0;
    std::uint64_t wrong = 0, idle_turns = 0;
    constexpr std::uint64_t idle_limit = 100'000'000; // bounds the test if the device stalls
    std::uint32_t status = ready;
    while (checked < total && idle_turns < idle_limit && status == ready) {
        std::uint32_t completed = driver.completed();
        for (; checked != completed; ++checked)
            wrong += driver.output(checked) != request_queue_answer(input_for(checked));
        std::uint32_t room = size - (driver.submitted() - checked);
        std::uint32_t count = std::min({ room, 1 + batches % size, total - driver.submitted() });
        if (count > 0) {
            driver.submit(count);
            if (++batches % 3 == 0) {
                driver.kick();
                ++doorbell_kicks;
            }
        } else {
            ++idle_turns;
            if (idle_turns % 4096 == 0)
                status = driver.status(); // a broken device would never complete anything
            std::this_thread::yield();
        }
    }
    stop.store(true, std::memory_order_release);
    device_thread.join();

    CHECK(status == ready);
    REQUIRE(checked == total);
    CHECK(wrong == 0);
    CHECK(driver.completed() == total);
    auto statistics = bench.queue.statistics();
    CHECK(statistics.requests == total);
    CHECK(statistics.kicks == doorbell_kicks);
    CHECK(statistics.external_kicks == external_kicks);
    CHECK(statistics.notifications == bench.line.rising_edges());
    CHECK(statistics.notifications <= batches);
    CHECK(statistics.broken_events == 0);
    CHECK(served_by_thread > 0); // the guest kicks only every third batch: the thread must serve
    CHECK(served_by_thread <= total);
    CHECK_FALSE(bench.line.asserted());
}

TEST_CASE("the guest reconfigures while a device thread serves: never BROKEN, every answer right", "[request_queue]")
{
    Bench bench;
    std::atomic<bool> stop { false };
    std::thread device_thread([&] {
        while (!stop.load(std::memory_order_acquire)) {
            if (bench.queue.process() == 0)
                std::this_thread::yield();
        }
    });

    // Each round: disable, zero `submitted`, configure a queue (alternating place and size),
    // offer one full queue, wait for it, check it.
    Driver first(bench.memory, bench.queue, queue_address);
    Driver second(bench.memory, bench.queue, high_start + 0x3000);
    std::uint64_t wrong = 0, idle_turns = 0, rounds_done = 0, broken_rounds = 0;
    constexpr std::uint64_t idle_limit = 100'000'000;
    for (std::uint32_t round = 0; round < 300 && idle_turns < idle_limit; ++round) {
        Driver& driver = round % 2 ? second : first;
        std::uint32_t size = 4u << (round % 3);
        driver.write_register(REQUEST_QUEUE_SIZE, 0);
        driver.configure(size);
        if (driver.status() != ready) {
            ++broken_rounds;
            break;
        }
        driver.submit(size);
        if (round % 5 == 0)
            driver.kick();
        while (driver.completed() != size && idle_turns < idle_limit) {
            ++idle_turns;
            std::this_thread::yield();
        }
        wrong += driver.wrong_answers(0, size);
        ++rounds_done;
    }
    stop.store(true, std::memory_order_release);
    device_thread.join();

    CHECK(broken_rounds == 0);
    CHECK(rounds_done == 300);
    CHECK(wrong == 0);
    CHECK(bench.queue.statistics().broken_events == 0);
}
