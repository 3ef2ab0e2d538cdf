#pragma once
// A fake interrupt line for device tests: it remembers every level a device set, in order,
// and counts rising edges. Safe to set from one thread while another reads.

#include <stepvmm/io/device.hpp>

#include <cstdint>
#include <mutex>
#include <vector>

namespace stepvmm::test {

class RecordingLine final : public io::InterruptLine {
public:
    void set_level(bool asserted) override
    {
        std::lock_guard guard(m_lock);
        if (asserted && !m_asserted)
            ++m_rising_edges;
        m_asserted = asserted;
        m_levels.push_back(asserted);
    }

    [[nodiscard]] std::vector<bool> levels() const
    {
        std::lock_guard guard(m_lock);
        return m_levels;
    }
    [[nodiscard]] bool asserted() const
    {
        std::lock_guard guard(m_lock);
        return m_asserted;
    }
    [[nodiscard]] std::uint64_t rising_edges() const
    {
        std::lock_guard guard(m_lock);
        return m_rising_edges;
    }

private:
    mutable std::mutex m_lock;
    std::vector<bool> m_levels;
    bool m_asserted = false;
    std::uint64_t m_rising_edges = 0;
};

}
