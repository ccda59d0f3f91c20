#pragma once
/// @file Settings of an actor system and of one spawn.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "troupe/actors/trace.hpp"
#include "troupe/mailbox/mailbox_options.hpp"

namespace troupe {

/// Settings of an `actor_system`. Checked by the system's constructor.
struct system_config {
  /// Worker threads; 0 means one per core.
  std::size_t threads = 0;
  /// Messages an actor handles per turn before others get the worker. At least 1.
  std::size_t quantum = 64;
  /// Search rounds of an idle worker before it parks.
  std::size_t spin_rounds = 64;
  /// Mailbox of actors spawned without explicit options.
  mailbox_options default_mailbox{};
  /// Logs a line of the system's counters (actors, dead letters by reason,
  /// scheduler) this often; 0: never. The same figures: actor_system::stats().
  std::chrono::milliseconds metrics_log_interval{0};
  /// Always-on metrics (`actor_system::metrics_text()`, a node's or a
  /// `metrics_server`'s /metrics): off removes the per-turn count of
  /// messages processed, the one cost they add to the message path.
  bool metrics = true;
  /// Actors that get metrics of their own (mailbox depth, messages
  /// processed, time in mailbox and processing time as histograms): those
  /// whose registered name, or demangled type name with or without its
  /// namespace, is in this list. Opt-in, so the number of series stays
  /// bounded (at most 10,000 actors are metered at once: the rest get no
  /// series, with one warning). Messages handled are counted exactly; the two times are
  /// sampled (see actor_metrics_sample_every), so each metered actor costs
  /// a few nanoseconds per message, not a clock read per message.
  std::vector<std::string> actor_metrics{};
  /// One message in this many is timed for the per-actor histograms (their
  /// `_count` is the number of samples, not of messages); 1 times every
  /// message (three clock reads each). A power of two, 1 to 2^20.
  std::uint32_t actor_metrics_sample_every = 64;
  /// Called with the span of every handler that ran a message carrying a
  /// trace context (see troupe/actors/trace.hpp), on the actor's thread
  /// right after it: export it to the tracing system in use. Keep it short
  /// (it runs in the actor's turn); what it throws is logged. Empty: spans
  /// are not reported (contexts still propagate).
  std::function<void(const message_span&)> on_message_span{};

  /// Throws std::invalid_argument naming the bad field.
  void validate() const;
};

/// How one actor is spawned.
struct spawn_options {
  /// Capacity and overflow policy of its mailbox. Left as constructed
  /// (equal to `mailbox_options{}`), the system's `default_mailbox` applies.
  mailbox_options mailbox{};
  /// Run the actor on a thread of its own (for actors that block: file I/O,
  /// blocking library calls), never on the pool's workers.
  bool dedicated_thread = false;
};

} // namespace troupe
