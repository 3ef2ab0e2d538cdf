#include <stepvmm/app/log.hpp>

#include <atomic>

namespace stepvmm::log {

static std::atomic<Level> current_level { Level::Info };

Level level() { return current_level.load(std::memory_order_relaxed); }

void set_level(Level new_level) { current_level.store(new_level, std::memory_order_relaxed); }

} // namespace stepvmm::log
