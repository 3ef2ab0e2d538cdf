// Writes the fuzzer's seed corpus: well-formed rings, each with one virtio-blk request, laid
// out as virtio_blk_fuzz.cpp reads its input (a control byte, then 64 KiB of guest RAM with
// the descriptor table at 0x0, the available ring at 0x1000 and the used ring at 0x2000).

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Descriptor {
    std::uint64_t address;
    std::uint32_t length;
    std::uint16_t flags;
    std::uint16_t next;
};

class Seed {
public:
    explicit Seed(std::uint8_t control)
        : m_bytes(1 + 0x10000, 0)
    {
        m_bytes[0] = control;
    }
    template<typename T>
    void put(std::uint64_t address, T value) { std::memcpy(m_bytes.data() + 1 + address, &value, sizeof value); }
    void request(std::uint32_t type, std::uint64_t sector, const std::vector<Descriptor>& data, bool indirect)
    {
        put<std::uint32_t>(0x3000, type);
        put<std::uint64_t>(0x3008, sector);
        std::vector<Descriptor> chain { { 0x3000, 16, 0, 0 } };
        chain.insert(chain.end(), data.begin(), data.end());
        chain.push_back({ 0x3ff0, 1, 2, 0 });
        std::uint64_t table = indirect ? 0x4000 : 0x0;
        for (std::size_t index = 0; index < chain.size(); ++index) {
            Descriptor descriptor = chain[index];
            if (index + 1 < chain.size()) {
                descriptor.flags = static_cast<std::uint16_t>(descriptor.flags | 1);
                descriptor.next = static_cast<std::uint16_t>(index + 1);
            }
            std::memcpy(m_bytes.data() + 1 + table + 16 * index, &descriptor, 16);
        }
        if (indirect)
            std::memcpy(m_bytes.data() + 1, &(const Descriptor&)Descriptor { 0x4000, static_cast<std::uint32_t>(16 * chain.size()), 4, 0 }, 16);
        put<std::uint16_t>(0x1002, 1); // avail idx: one chain, head 0 in ring[0]
    }
    void write(const std::string& path) const
    {
        std::FILE* file = std::fopen(path.c_str(), "wb");
        if (!file || std::fwrite(m_bytes.data(), 1, m_bytes.size(), file) != m_bytes.size()) {
            std::perror(path.c_str());
            std::exit(1);
        }
        std::fclose(file);
    }

private:
    std::vector<std::uint8_t> m_bytes;
};

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 1;
    }
    std::string directory = argv[1];
    auto make = [&](const char* name, std::uint8_t control, std::uint32_t type, std::uint64_t sector, std::vector<Descriptor> data, bool indirect) {
        Seed seed(control);
        seed.request(type, sector, data, indirect);
        seed.write(directory + "/" + name);
    };
    make("write", 0, 1, 3, { { 0x5000, 512, 0, 0 } }, false);
    make("read-split", 2, 0, 1, { { 0x5000, 100, 2, 0 }, { 0x6000, 924, 2, 0 } }, false);
    make("read-indirect", 6, 0, 0, { { 0x5000, 1024, 2, 0 } }, true);
    make("flush", 0, 4, 0, {}, false);
    make("get-id", 0, 8, 0, { { 0x5000, 20, 2, 0 } }, false);
    make("discard", 0, 11, 0, { { 0x5000, 16, 0, 0 } }, false);
    make("write-zeroes-readonly", 1, 13, 0, { { 0x5000, 16, 0, 0 } }, false);
    return 0;
}
