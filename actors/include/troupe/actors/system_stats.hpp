#pragma once
/// @file A snapshot of an actor system's counters.

#include <array>
#include <cstdint>

#include "troupe/actors/exit_reason.hpp"
#include "troupe/scheduler/thread_pool.hpp"

namespace troupe {

struct system_stats {
  std::uint64_t spawned = 0;     ///< actors spawned since start
  std::uint64_t stopped = 0;     ///< actors that have stopped
  std::uint64_t failed = 0;      ///< of those, stopped by an exception
  std::uint64_t live = 0;        ///< actors alive now
  std::uint64_t restarts = 0;    ///< children restarted by their supervisors
  std::uint64_t give_ups = 0;    ///< supervisors that exceeded their restart intensity
  /// Dead letters by `drop_reason` (index = static_cast<size_t>(reason)).
  std::array<std::uint64_t, drop_reason_count> dead_letters{};
  pool_stats pool{};

  [[nodiscard]] std::uint64_t dead(drop_reason r) const noexcept { return dead_letters[static_cast<std::size_t>(r)]; }
  [[nodiscard]] std::uint64_t total_dead() const noexcept {
    std::uint64_t t = 0;
    for (auto v : dead_letters) t += v;
    return t;
  }
};

} // namespace troupe
