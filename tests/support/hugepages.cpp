#include "hugepages.hpp"
#include "skip.hpp"

#include <fstream>
#include <unistd.h>

namespace stepvmm::test {

static std::uint64_t read_number(const std::string& path)
{
    std::ifstream file(path);
    std::uint64_t value = 0;
    file >> value;
    return value;
}

static bool write_number(const std::string& path, std::uint64_t value)
{
    std::ofstream file(path);
    file << value << '\n';
    file.close();
    return !file.fail();
}

HugepageReservation::HugepageReservation(std::uint64_t page_size_kib, std::uint64_t pages)
    : m_pool("/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page_size_kib) + "kB")
{
    if (::access(m_pool.c_str(), F_OK) != 0)
        skip_test("this kernel has no " + std::to_string(page_size_kib) + " kB hugepage pool");
    std::uint64_t free_pages = read_number(m_pool + "/free_hugepages");
    if (free_pages >= pages)
        return;
    if (::geteuid() != 0)
        skip_test("needs " + std::to_string(pages) + " free " + std::to_string(page_size_kib) + " kB hugepages (have "
            + std::to_string(free_pages) + ") and only root can reserve them");
    m_original_total = read_number(m_pool + "/nr_hugepages");
    m_changed = true;
    write_number(m_pool + "/nr_hugepages", m_original_total + (pages - free_pages));
    std::uint64_t now_free = read_number(m_pool + "/free_hugepages");
    if (now_free < pages) {
        write_number(m_pool + "/nr_hugepages", m_original_total);
        m_changed = false;
        skip_test("the kernel could reserve only " + std::to_string(now_free) + " of " + std::to_string(pages) + " "
            + std::to_string(page_size_kib) + " kB hugepages (memory too fragmented or too small)");
    }
}

HugepageReservation::~HugepageReservation()
{
    if (m_changed)
        write_number(m_pool + "/nr_hugepages", m_original_total);
}

}
