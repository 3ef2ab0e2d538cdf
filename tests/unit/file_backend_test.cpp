// backends::FileBackend: a raw disk image in a host file, checked against the file itself
// (read separately, not through the backend) and against the errors it must name.

#include <stepvmm/backends/file_backend.hpp>
#include <stepvmm/os/system_error.hpp>

#include <catch2/catch.hpp>
#include <temporary_file.hpp>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

using namespace stepvmm;
using backends::DiskAccess;
using backends::FileBackend;
using backends::IoStatus;

using stepvmm::test::TemporaryFile;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes random_bytes(std::size_t count, std::uint32_t seed)
{
    std::mt19937 generator(seed);
    Bytes bytes(count);
    for (auto& byte : bytes)
        byte = static_cast<std::uint8_t>(generator());
    return bytes;
}

Bytes slice(const Bytes& bytes, std::size_t offset, std::size_t length)
{
    return Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(offset), bytes.begin() + static_cast<std::ptrdiff_t>(offset + length));
}

constexpr std::uint64_t all_ones = std::numeric_limits<std::uint64_t>::max();

}

TEST_CASE("FileBackend's size is the file's size and its access decides read_only()", "[file_backend]")
{
    TemporaryFile image(random_bytes(3 * 512 + 17, 1));
    CHECK(FileBackend(image.path(), DiskAccess::ReadWrite).size() == 3 * 512 + 17);
    CHECK_FALSE(FileBackend(image.path(), DiskAccess::ReadWrite).read_only());
    CHECK(FileBackend(image.path(), DiskAccess::ReadOnly).size() == 3 * 512 + 17);
    CHECK(FileBackend(image.path(), DiskAccess::ReadOnly).read_only());

    TemporaryFile empty(Bytes {});
    CHECK(FileBackend(empty.path(), DiskAccess::ReadWrite).size() == 0);
}

TEST_CASE("FileBackend reads the file's bytes at any offset", "[file_backend]")
{
    Bytes original = random_bytes(4096, 2);
    TemporaryFile image(original);
    FileBackend backend(image.path(), DiskAccess::ReadOnly);

    Bytes whole(original.size());
    CHECK(backend.read(0, whole) == IoStatus::Ok);
    CHECK(whole == original);
    Bytes middle(700);
    CHECK(backend.read(1001, middle) == IoStatus::Ok);
    CHECK(middle == slice(original, 1001, 700));
    Bytes last(1);
    CHECK(backend.read(4095, last) == IoStatus::Ok);
    CHECK(last[0] == original[4095]);
}

TEST_CASE("FileBackend writes land in the file and read back", "[file_backend]")
{
    Bytes original = random_bytes(8 * 512, 3);
    TemporaryFile image(original);
    Bytes written = random_bytes(1000, 4);
    {
        FileBackend backend(image.path(), DiskAccess::ReadWrite);
        CHECK(backend.write(300, written) == IoStatus::Ok);
        Bytes round_trip(written.size());
        CHECK(backend.read(300, round_trip) == IoStatus::Ok);
        CHECK(round_trip == written);
        CHECK(backend.write(8 * 512 - 3, Bytes { 7, 8, 9 }) == IoStatus::Ok); // the last bytes
        CHECK(backend.flush() == IoStatus::Ok);
    }

    Bytes expected = original;
    std::copy(written.begin(), written.end(), expected.begin() + 300);
    expected[8 * 512 - 3] = 7;
    expected[8 * 512 - 2] = 8;
    expected[8 * 512 - 1] = 9;
    CHECK(image.contents() == expected);
}

TEST_CASE("FileBackend refuses ranges outside the file with OutOfRange and does not grow it", "[file_backend]")
{
    Bytes original = random_bytes(1024, 5);
    TemporaryFile image(original);
    FileBackend backend(image.path(), DiskAccess::ReadWrite);

    struct Range {
        std::uint64_t offset;
        std::size_t length;
    };
    for (Range range : { Range { 1024, 1 }, Range { 1023, 2 }, Range { 0, 1025 }, Range { 4096, 16 }, Range { all_ones, 1 }, Range { all_ones - 1, 4 } }) {
        CAPTURE(range.offset, range.length);
        Bytes bytes(range.length, 0x5a);
        CHECK(backend.read(range.offset, bytes) == IoStatus::OutOfRange);
        CHECK(backend.write(range.offset, bytes) == IoStatus::OutOfRange);
    }
    // An empty range at the very end is still inside the file.
    Bytes nothing;
    CHECK(backend.read(1024, nothing) == IoStatus::Ok);
    CHECK(backend.size() == 1024);
    CHECK(image.contents() == original);
}

TEST_CASE("a read-only FileBackend refuses writes with ReadOnly and leaves the file unchanged", "[file_backend]")
{
    Bytes original = random_bytes(2048, 6);
    TemporaryFile image(original);
    FileBackend backend(image.path(), DiskAccess::ReadOnly);

    CHECK(backend.write(0, random_bytes(512, 7)) == IoStatus::ReadOnly);
    CHECK(backend.write(2047, Bytes { 1 }) == IoStatus::ReadOnly);
    CHECK(backend.flush() == IoStatus::Ok);
    Bytes bytes(16);
    CHECK(backend.read(100, bytes) == IoStatus::Ok); // reading is still allowed
    CHECK(bytes == slice(original, 100, 16));
    CHECK(image.contents() == original);
}

TEST_CASE("FileBackend::flush of a read-write image succeeds", "[file_backend]")
{
    TemporaryFile image(random_bytes(512, 8));
    FileBackend backend(image.path(), DiskAccess::ReadWrite);
    CHECK(backend.flush() == IoStatus::Ok);
    CHECK(backend.write(0, Bytes { 1, 2 }) == IoStatus::Ok);
    CHECK(backend.flush() == IoStatus::Ok);
    CHECK(slice(image.contents(), 0, 2) == Bytes { 1, 2 });
}

TEST_CASE("opening a missing image throws SystemError naming the path", "[file_backend]")
{
    const std::string path = "/tmp/stepvmm-no-such-dir/missing.img";
    for (DiskAccess access : { DiskAccess::ReadWrite, DiskAccess::ReadOnly }) {
        try {
            FileBackend backend(path, access);
            FAIL("opening a missing file succeeded");
        } catch (const SystemError& error) {
            CHECK(std::string(error.what()) == "open disk " + path + ": No such file or directory (errno 2)");
            CHECK(error.error_number() == ENOENT);
        }
    }
}

TEST_CASE("a directory is not a disk image", "[file_backend]")
{
    // Read-only, open(2) succeeds on a directory and FileBackend must notice; read-write, the
    // kernel refuses (EISDIR) already.
    CHECK_THROWS_AS(FileBackend("/tmp", DiskAccess::ReadOnly), UserError);
    try {
        FileBackend backend("/tmp", DiskAccess::ReadWrite);
        FAIL("opening a directory read-write succeeded");
    } catch (const SystemError& error) {
        CHECK(error.error_number() == EISDIR);
        CHECK_THAT(error.what(), Catch::StartsWith("open disk /tmp: "));
    }
}
