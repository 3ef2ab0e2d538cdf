// The ELF64 loader against images built here in memory, one defect at a time, and against a
// real guest image. Every rejection must be a UserError that starts with the image's name.

#include <stepvmm/boot/elf_loader.hpp>
#include <stepvmm/mem/guest_memory.hpp>
#include <stepvmm/os/file.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <elf.h>
#include <string>
#include <vector>

using namespace stepvmm;

namespace {

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t text_address = 1 * mib; // where stepvmm guests are linked
constexpr std::uint64_t data_address = text_address + 0x1000;
constexpr std::uint64_t data_memory_size = 0x100; // 8 file bytes, then .bss
const std::vector<std::uint8_t> text_bytes { 0x90, 0x90, 0xf4, 0xeb, 0xfd }; // nop; nop; hlt; jmp .-1
const std::vector<std::uint8_t> data_bytes { 1, 2, 3, 4, 5, 6, 7, 8 };

struct SegmentSpec {
    std::uint64_t physical_address;
    std::vector<std::uint8_t> bytes;
    std::uint64_t memory_size;
};

// A statically linked x86-64 executable: ELF header, program headers, then the segments' bytes.
std::vector<std::uint8_t> build_elf(std::uint64_t entry, const std::vector<SegmentSpec>& segments)
{
    Elf64_Ehdr header {};
    std::memcpy(header.e_ident, ELFMAG, SELFMAG);
    header.e_ident[EI_CLASS] = ELFCLASS64;
    header.e_ident[EI_DATA] = ELFDATA2LSB;
    header.e_ident[EI_VERSION] = EV_CURRENT;
    header.e_type = ET_EXEC;
    header.e_machine = EM_X86_64;
    header.e_version = EV_CURRENT;
    header.e_entry = entry;
    header.e_phoff = sizeof(Elf64_Ehdr);
    header.e_ehsize = sizeof(Elf64_Ehdr);
    header.e_phentsize = sizeof(Elf64_Phdr);
    header.e_phnum = static_cast<Elf64_Half>(segments.size());

    std::vector<std::uint8_t> image(sizeof(Elf64_Ehdr) + segments.size() * sizeof(Elf64_Phdr));
    std::memcpy(image.data(), &header, sizeof(header));
    for (std::size_t i = 0; i < segments.size(); ++i) {
        Elf64_Phdr program_header {};
        program_header.p_type = PT_LOAD;
        program_header.p_flags = PF_R | PF_W | PF_X;
        program_header.p_offset = image.size();
        program_header.p_vaddr = segments[i].physical_address;
        program_header.p_paddr = segments[i].physical_address;
        program_header.p_filesz = segments[i].bytes.size();
        program_header.p_memsz = segments[i].memory_size;
        program_header.p_align = 0x1000;
        std::memcpy(image.data() + header.e_phoff + i * sizeof(Elf64_Phdr), &program_header, sizeof(program_header));
        image.insert(image.end(), segments[i].bytes.begin(), segments[i].bytes.end());
    }
    return image;
}

// A good two-segment image: text with entry at its start, data with a .bss tail.
std::vector<std::uint8_t> good_image()
{
    return build_elf(text_address, {
                                       { text_address, text_bytes, text_bytes.size() },
                                       { data_address, data_bytes, data_memory_size },
                                   });
}

// Lets a test change one field of the ELF header or of program header @p index.
template<typename Change>
void edit_header(std::vector<std::uint8_t>& image, Change change)
{
    Elf64_Ehdr header;
    std::memcpy(&header, image.data(), sizeof(header));
    change(header);
    std::memcpy(image.data(), &header, sizeof(header));
}

template<typename Change>
void edit_segment(std::vector<std::uint8_t>& image, std::size_t index, Change change)
{
    Elf64_Phdr segment;
    std::size_t offset = sizeof(Elf64_Ehdr) + index * sizeof(Elf64_Phdr);
    std::memcpy(&segment, image.data() + offset, sizeof(segment));
    change(segment);
    std::memcpy(image.data() + offset, &segment, sizeof(segment));
}

GuestMemory make_memory() { return GuestMemory(pc_memory_layout(8 * mib, 4 * mib), Backing::Anonymous4K); }

// The UserError text load_elf64() throws for @p image (fails the test if it loads).
std::string rejection(const std::vector<std::uint8_t>& image)
{
    auto memory = make_memory();
    try {
        (void)boot::load_elf64(memory, image, "test.elf");
    } catch (const UserError& error) {
        return error.what();
    }
    FAIL("the image was loaded");
    return {};
}

}

TEST_CASE("load_elf64 copies each segment to its physical address and zeroes its .bss", "[elf_loader]")
{
    auto memory = make_memory();
    // Garbage where .bss will go: the loader must clear it, not rely on fresh memory.
    for (std::uint64_t offset = 0; offset < data_memory_size; ++offset)
        memory.write<std::uint8_t>(data_address + offset, 0xff);

    auto loaded = boot::load_elf64(memory, good_image(), "test.elf");

    CHECK(loaded.entry == text_address);
    CHECK(loaded.lowest_gpa == text_address);
    CHECK(loaded.highest_gpa == data_address + data_memory_size);
    auto text = memory.at(text_address, text_bytes.size());
    CHECK(std::vector<std::uint8_t>(text.begin(), text.end()) == text_bytes);
    auto data = memory.at(data_address, data_bytes.size());
    CHECK(std::vector<std::uint8_t>(data.begin(), data.end()) == data_bytes);
    for (std::uint64_t offset = data_bytes.size(); offset < data_memory_size; ++offset)
        CHECK(memory.read<std::uint8_t>(data_address + offset) == 0);
}

TEST_CASE("load_elf64 places segments by p_paddr, not by their virtual address", "[elf_loader]")
{
    auto image = good_image();
    edit_segment(image, 0, [](Elf64_Phdr& segment) { segment.p_vaddr = 0xffff'ffff'8010'0000; });
    auto memory = make_memory();
    (void)boot::load_elf64(memory, image, "test.elf");
    CHECK(memory.read<std::uint8_t>(text_address + 2) == 0xf4);
}

TEST_CASE("load_elf64 loads a segment into high RAM above the hole", "[elf_loader]")
{
    constexpr std::uint64_t high = four_gib + 0x2000;
    auto memory = make_memory();
    auto loaded = boot::load_elf64(memory, build_elf(high, { { high, text_bytes, 0x3000 } }), "test.elf");
    CHECK(loaded.lowest_gpa == high);
    CHECK(loaded.highest_gpa == high + 0x3000);
    CHECK(memory.read<std::uint8_t>(high + 2) == 0xf4);
}

TEST_CASE("load_elf64 rejects an empty file", "[elf_loader]")
{
    CHECK_THAT(rejection({}), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("too small"));
}

TEST_CASE("load_elf64 rejects a file without the ELF magic", "[elf_loader]")
{
    auto image = good_image();
    image[1] = 'F'; // "\x7f" "FLF"
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("magic"));
}

TEST_CASE("load_elf64 rejects a 32-bit ELF file", "[elf_loader]")
{
    auto image = good_image();
    edit_header(image, [](Elf64_Ehdr& header) { header.e_ident[EI_CLASS] = ELFCLASS32; });
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("ELF64"));
}

TEST_CASE("load_elf64 rejects an executable for another machine", "[elf_loader]")
{
    auto image = good_image();
    edit_header(image, [](Elf64_Ehdr& header) { header.e_machine = EM_AARCH64; });
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("x86-64"));
}

TEST_CASE("load_elf64 rejects a position-independent (ET_DYN) executable", "[elf_loader]")
{
    auto image = good_image();
    edit_header(image, [](Elf64_Ehdr& header) { header.e_type = ET_DYN; });
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("statically linked"));
}

TEST_CASE("load_elf64 rejects a file cut off inside its program headers", "[elf_loader]")
{
    auto image = good_image();
    image.resize(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 10);
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("program headers"));

    auto far_away = good_image();
    edit_header(far_away, [](Elf64_Ehdr& header) { header.e_phoff = 0xffff'ffff'ffff'fff0; }); // offset + size wraps
    CHECK_THAT(rejection(far_away), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("program headers"));
}

TEST_CASE("load_elf64 rejects a segment whose bytes lie beyond the end of the file", "[elf_loader]")
{
    auto image = good_image();
    std::uint64_t file_size = image.size();
    edit_segment(image, 1, [&](Elf64_Phdr& segment) { segment.p_offset = file_size; });
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("segment 1 lies outside the file"));
}

TEST_CASE("load_elf64 rejects a segment outside guest RAM", "[elf_loader]")
{
    auto in_the_hole = build_elf(5 * mib, { { 5 * mib, text_bytes, text_bytes.size() } });
    CHECK_THAT(rejection(in_the_hole), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("not inside guest RAM"));

    // Starts in RAM, but its .bss runs past the end of low RAM.
    auto overhanging = build_elf(4 * mib - 0x10, { { 4 * mib - 0x10, text_bytes, 0x20 } });
    CHECK_THAT(rejection(overhanging), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("not inside guest RAM"));
}

TEST_CASE("load_elf64 rejects a segment with more file bytes than memory bytes", "[elf_loader]")
{
    auto image = good_image();
    edit_segment(image, 0, [](Elf64_Phdr& segment) { segment.p_memsz = segment.p_filesz - 1; });
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("segment 0"));
}

TEST_CASE("load_elf64 rejects an entry point outside every loadable segment", "[elf_loader]")
{
    auto image = good_image();
    edit_header(image, [](Elf64_Ehdr& header) { header.e_entry = 2 * mib; });
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("entry point 0x200000"));
}

TEST_CASE("load_elf64 rejects an image with no PT_LOAD segment", "[elf_loader]")
{
    auto image = good_image();
    for (std::size_t i = 0; i < 2; ++i)
        edit_segment(image, i, [](Elf64_Phdr& segment) { segment.p_type = PT_NOTE; });
    CHECK_THAT(rejection(image), Catch::StartsWith("guest image test.elf: ") && Catch::Contains("no loadable segments"));
}

TEST_CASE("load_elf64 writes nothing to guest RAM when a later segment is bad", "[elf_loader]")
{
    auto image = good_image();
    edit_segment(image, 1, [](Elf64_Phdr& segment) { segment.p_paddr = 5 * mib; });
    auto memory = make_memory();
    CHECK_THROWS_AS(boot::load_elf64(memory, image, "test.elf"), UserError);
    CHECK(memory.read<std::uint8_t>(text_address + 2) == 0);
}

TEST_CASE("load_elf64 loads the real chapter 02 guest at 1 MiB", "[elf_loader]")
{
    auto image = read_whole_file(STEPVMM_GUEST_DIR "/guest_ch02_memory.elf", 16 * mib);
    auto memory = make_memory();
    auto loaded = boot::load_elf64(memory, image, "guest_ch02_memory.elf");
    CHECK(loaded.entry == 0x100000);
    CHECK(loaded.lowest_gpa == 0x100000);
    CHECK(loaded.highest_gpa > loaded.lowest_gpa);
    CHECK(loaded.highest_gpa <= 4 * mib);
    // The text segment's first bytes are the file's, not zeros.
    CHECK(memory.read<std::uint64_t>(loaded.entry) != 0);
}
