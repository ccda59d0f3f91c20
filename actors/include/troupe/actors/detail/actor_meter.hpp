#pragma once
/// @file Per-actor metrics of an actor named in system_config::actor_metrics.
/// Made once by the system (at spawn, or when the actor's name is bound);
/// written by the actor's own turns and its senders, read by scrapes.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "troupe/actors/metrics.hpp"

namespace troupe::detail {

struct actor_meter {
  actor_meter(std::string l, std::uint32_t every) : label(std::move(l)), sample_every(every) {}
  const std::string label;                ///< the name or type it was chosen by
  const std::uint32_t sample_every;       ///< system_config::actor_metrics_sample_every
  latency_histogram mailbox_time;         ///< queued until its handler began (sampled)
  latency_histogram processing_time;      ///< its handler's run (sampled)
  std::atomic<std::uint64_t> processed{0};
};

/// The steady clock in nanoseconds.
inline std::uint64_t meter_now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

/// Sends left until this thread stamps the next one for a metered
/// receiver (system_config::actor_metrics_sample_every).
inline thread_local std::uint32_t tls_stamp_countdown = 1;
/// The next gap between stamps: random, `every` on average (a fixed gap
/// would keep stamping the same receiver of a round-robin). At least 1.
std::uint32_t stamp_gap(std::uint32_t every) noexcept;

} // namespace troupe::detail
