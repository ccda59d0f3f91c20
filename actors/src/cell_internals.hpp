#pragma once
// Private to the actors component: what the files of actor_cell share
// (actor_cell.cpp: enqueue and the turn; lifecycle.cpp; system_messages.cpp;
// backpressure.cpp).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <semaphore>
#include <vector>

#include "troupe/actors/detail/actor_cell.hpp"

namespace troupe::detail {

/// The cell whose turn runs on this thread (nullptr outside a turn).
extern thread_local actor_cell* tls_current;
/// True on a thread that must never block in `tell` (never_block_scope).
extern thread_local bool tls_never_block;

/// Now on the steady clock, in nanoseconds (an actor's idle stamp).
inline std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Senders waiting for a full mute_sender mailbox to drain.
struct mute_list {
  std::mutex mx;
  std::vector<cell_ptr> actors;                        // muted actors (parked, or stale: unpark is a no-op)
  std::vector<std::shared_ptr<std::binary_semaphore>> threads;  // blocked threads outside the system
  std::atomic<std::uint32_t> waiting{0};
  /// A consumer turn has read this list (and so checks `waiting` after its
  /// finish): from then on no waiter needs the timed re-check.
  std::atomic<bool> seen{false};
};

} // namespace troupe::detail
