#include "link/log.hpp"

#include <chrono>

#include "troupe/detail/logger.hpp"

namespace troupe::transport {

spdlog::logger& log() { return detail::logger(); }

std::optional<std::string> log_limiter::allow(std::size_t key) noexcept {
  constexpr std::int64_t period = std::chrono::nanoseconds(std::chrono::seconds(1)).count();
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t next = next_[key].load(std::memory_order_relaxed);
  // Relaxed throughout: the slot only decides who writes a log line; the
  // count held back is exchanged by the one that wins the slot.
  if (now < next || !next_[key].compare_exchange_strong(next, now + period, std::memory_order_relaxed)) {
    held_[key].fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  const std::uint64_t held = held_[key].exchange(0, std::memory_order_relaxed);
  try {
    return held == 0 ? std::string() : " (and " + std::to_string(held) + " more like it, not logged)";
  } catch (...) {
    return std::string();  // no memory for the count: the line still goes
  }
}

} // namespace troupe::transport
