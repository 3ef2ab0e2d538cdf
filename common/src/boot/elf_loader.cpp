#include <stepvmm/boot/elf_loader.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <cstring>
#include <elf.h>
#include <fmt/format.h>
#include <limits>
#include <vector>

namespace stepvmm::boot {

namespace {

class ImageError {
public:
    explicit ImageError(std::string_view name)
        : m_name(name)
    {
    }
    template<typename... Args>
    [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const
    {
        throw UserError(fmt::format("guest image {}: {}", m_name, fmt::format(format, std::forward<Args>(args)...)));
    }

private:
    std::string_view m_name;
};

template<typename T>
T read_struct(std::span<const std::uint8_t> image, std::uint64_t offset)
{
    T value;
    std::memcpy(&value, image.data() + offset, sizeof(T));
    return value;
}

bool fits(std::uint64_t offset, std::uint64_t length, std::uint64_t total)
{
    return offset <= total && length <= total - offset;
}

}

LoadedImage load_elf64(const GuestMemory& memory, std::span<const std::uint8_t> image, std::string_view name)
{
    ImageError error(name);
    if (image.size() < sizeof(Elf64_Ehdr))
        error.fail("too small to be an ELF file ({} bytes)", image.size());
    auto header = read_struct<Elf64_Ehdr>(image, 0);
    if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
        error.fail("not an ELF file (bad magic)");
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
        error.fail("not a little-endian ELF64 file");
    if (header.e_machine != EM_X86_64)
        error.fail("built for machine {}, not x86-64", header.e_machine);
    if (header.e_type != ET_EXEC)
        error.fail("not a statically linked executable (e_type {})", header.e_type);
    if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum == 0)
        error.fail("has no usable program headers");
    if (!fits(header.e_phoff, std::uint64_t { header.e_phnum } * sizeof(Elf64_Phdr), image.size()))
        error.fail("program headers lie outside the file (truncated?)");

    // Validate every segment before touching guest memory: a bad image loads nothing.
    std::vector<Elf64_Phdr> loads;
    for (unsigned i = 0; i < header.e_phnum; ++i) {
        auto segment = read_struct<Elf64_Phdr>(image, header.e_phoff + i * sizeof(Elf64_Phdr));
        if (segment.p_type != PT_LOAD)
            continue;
        if (segment.p_filesz > segment.p_memsz)
            error.fail("segment {} has more file bytes than memory bytes", i);
        if (!fits(segment.p_offset, segment.p_filesz, image.size()))
            error.fail("segment {} lies outside the file (truncated?)", i);
        if (!memory.translate(segment.p_paddr, segment.p_memsz))
            error.fail("segment {} [{:#x}, +{:#x}) is not inside guest RAM", i, segment.p_paddr, segment.p_memsz);
        loads.push_back(segment);
    }
    if (loads.empty())
        error.fail("has no loadable segments");

    LoadedImage loaded { header.e_entry, std::numeric_limits<std::uint64_t>::max(), 0 };
    bool entry_inside = false;
    for (const Elf64_Phdr& segment : loads) {
        loaded.lowest_gpa = std::min(loaded.lowest_gpa, segment.p_paddr);
        loaded.highest_gpa = std::max(loaded.highest_gpa, segment.p_paddr + segment.p_memsz);
        entry_inside |= header.e_entry >= segment.p_paddr && header.e_entry - segment.p_paddr < segment.p_memsz;
    }
    if (!entry_inside)
        error.fail("entry point {:#x} is not inside a loadable segment", header.e_entry);

    for (const Elf64_Phdr& segment : loads) {
        auto destination = memory.at(segment.p_paddr, segment.p_memsz);
        std::memcpy(destination.data(), image.data() + segment.p_offset, segment.p_filesz);
        std::memset(destination.data() + segment.p_filesz, 0, segment.p_memsz - segment.p_filesz);
    }
    return loaded;
}

} // namespace stepvmm::boot
