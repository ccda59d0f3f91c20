#include "link/log.hpp"

#include <chrono>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/detail/logger.hpp"

namespace troupe::transport {

spdlog::logger& log() { return detail::logger(); }

void warn_if_blocking_an_actor(const char* what) noexcept {
  static std::atomic<bool> warned{false};
  if (detail::current_cell() == nullptr || warned.exchange(true, std::memory_order_relaxed)) return;
  try {
    log().warn("troupe: {} was called from an actor's handler: it blocks a worker thread of the actor system until "
               "it ends. Use its form with a continuation there (or the one returning a future outside actors). "
               "Logged once per process.",
               what);
  } catch (...) {
  }
}

bool log_limiter::allow(std::size_t key, std::uint64_t& held) noexcept {
  constexpr std::int64_t period = std::chrono::nanoseconds(std::chrono::seconds(1)).count();
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t next = next_[key].load(std::memory_order_relaxed);
  // Relaxed throughout: the slot only decides who writes a log line; the
  // count held back is exchanged by the one that wins the slot.
  if (now < next || !next_[key].compare_exchange_strong(next, now + period, std::memory_order_relaxed)) {
    held_[key].fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  held = held_[key].exchange(0, std::memory_order_relaxed);
  return true;
}

} // namespace troupe::transport
