#pragma once
// Reserving hugetlb pages for a test and giving them back afterwards.

#include <cstdint>
#include <string>

namespace stepvmm::test {

// Ensures at least @p pages free pages of @p page_size_kib in the hugetlb pool, raising
// nr_hugepages if needed (root only); restores the previous nr_hugepages on destruction.
// Skips the test, with the reason, when the pool cannot be made large enough.
class HugepageReservation {
public:
    HugepageReservation(std::uint64_t page_size_kib, std::uint64_t pages);
    ~HugepageReservation();
    HugepageReservation(const HugepageReservation&) = delete;
    HugepageReservation& operator=(const HugepageReservation&) = delete;

private:
    std::string m_pool;
    std::uint64_t m_original_total = 0;
    bool m_changed = false;
};

}
