#pragma once
/// @file The runtime behind `actor_system`: pool, timers, the registry of
/// live actors (for shutdown), counters, and the dead-letter log.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <typeinfo>
#include <vector>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/metrics.hpp"
#include "troupe/actors/registry.hpp"
#include "troupe/actors/topic.hpp"
#include "troupe/actors/system_config.hpp"
#include "troupe/actors/system_stats.hpp"
#include "troupe/scheduler/thread_pool.hpp"
#include "troupe/scheduler/timer_service.hpp"

namespace troupe {
/// What a dead-letter subscriber receives.
struct dead_letter {
  drop_reason reason;
  std::string message_type;  ///< demangled C++ type of the message
  /// Messages this notice stands for: more than one only for a bulk drop
  /// (a non-durable spill's messages on disk when its actor stops).
  std::uint64_t count = 1;
};

/// What a subscriber to `actor_system::child_restarts()` receives: a
/// supervisor restarted one of its children (in place: `child` is the same
/// handle as before).
struct child_restarted {
  any_ref supervisor;
  std::string name;  ///< the child's name in its spec
  any_ref child;
  /// Why this child's incarnation ended. For a child restarted because a
  /// sibling failed (one_for_all, rest_for_one): `stopped`, with the
  /// sibling named in `what`.
  exit_reason reason;
  std::string what;
  std::uint64_t restarts;  ///< this child's restarts so far, this one included
};
} // namespace troupe

namespace troupe {
class actor_system;
}

namespace troupe::detail {

/// Marks the calling thread as one that must never block in `tell` (the
/// timer thread): a send to a full mailbox is accepted over the bound.
struct never_block_scope {
  never_block_scope() noexcept;
  ~never_block_scope();
  never_block_scope(const never_block_scope&) = delete;
  never_block_scope& operator=(const never_block_scope&) = delete;
  bool prev;
};

class system_core {
 public:
  explicit system_core(system_config cfg);
  ~system_core();
  system_core(const system_core&) = delete;
  system_core& operator=(const system_core&) = delete;

  [[nodiscard]] thread_pool& pool() noexcept { return pool_; }
  [[nodiscard]] timer_service& timers() noexcept { return timers_; }
  [[nodiscard]] const system_config& config() const noexcept { return cfg_; }
  [[nodiscard]] std::size_t quantum() const noexcept { return quantum_; }
  [[nodiscard]] troupe::registry& names() noexcept { return registry_; }
  /// The actor_system this runtime is behind (set once by its constructor).
  [[nodiscard]] actor_system& owner() const noexcept { return *owner_; }
  void set_owner(actor_system* s) noexcept { owner_ = s; }
  /// The mailbox a spawn gets: `given`, unless it was left as constructed
  /// (equal to `mailbox_options{}`): then the config's default_mailbox.
  [[nodiscard]] const mailbox_options& mailbox_for(const mailbox_options& given) const {
    static const mailbox_options not_given{};
    return given == not_given ? cfg_.default_mailbox : given;
  }
  [[nodiscard]] topic<dead_letter>& dead_letters() noexcept { return dead_letters_; }
  [[nodiscard]] topic<child_restarted>& child_restarts() noexcept { return child_restarts_; }
  /// Counts a child restart and publishes it. @threadsafe
  void note_restart(const child_restarted& e);
  /// Counts and logs (at error, never rate-limited) a supervisor giving up. @threadsafe
  void note_give_up(const actor_cell& sup, const std::string& why) noexcept;
  /// True once shutdown began (spawns are refused, supervisors stop restarting). @threadsafe
  [[nodiscard]] bool shutting_down() const noexcept { return shutting_down_.load(std::memory_order_acquire); }

  /// Registers a freshly constructed cell (adopting one reference for the
  /// registry), gives it a thread when asked, and queues its start hook.
  /// @throws std::logic_error after shutdown began (or what making the
  /// thread throws): then nothing is registered and the caller still owns
  /// its reference. @threadsafe
  void attach(actor_cell* c, bool dedicated, bool has_start);

  /// Called by a cell that stops for good, once its mailbox is closed and
  /// before its `down`s go out: unbinds its names and drops its per-actor
  /// metrics, so a watcher may bind a successor to a name at once.
  /// Idempotent. @threadsafe
  void drop_names(actor_cell* c) noexcept;
  /// Called by a cell at the very end of its last turn (after drop_names):
  /// unregisters it and drops the registry's reference (the cell may be
  /// freed). @threadsafe
  void detach(actor_cell* c) noexcept;

  /// Counts and logs (rate-limited, per cause) a message that was not delivered.
  /// @threadsafe
  void count_drop(drop_reason r, const std::type_info& type) noexcept;
  /// Counts `n` dropped messages known only by a description (`what`), in
  /// one log line and one notice to subscribers. @threadsafe
  void count_drops(drop_reason r, std::uint64_t n, std::string_view what) noexcept;

  /// Logs an exception that escaped an actor (rate-limited). @threadsafe
  void log_failure(const actor_cell& c, const char* what) noexcept;
  /// Counts an incarnation ended by an exception. @threadsafe
  void count_failure() noexcept;

  // -- metrics (system_metrics.cpp) --

  /// Counts `n` user messages handled in a turn (off with
  /// system_config::metrics = false). `slot` spreads the threads' counts
  /// over cache lines. @threadsafe
  void count_processed(std::size_t slot, std::size_t n) noexcept {
    if (n == 0 || !metrics_on_) return;
    processed_[slot % processed_.size()].v.fetch_add(n, std::memory_order_relaxed);
  }
  /// Counts a sender muted (an actor) or blocked (a thread) by a full mailbox. @threadsafe
  void count_mute() noexcept { mutes_.fetch_add(1, std::memory_order_relaxed); }
  /// Gives `c` per-actor metrics when its type (at spawn) or a name it is
  /// bound to is in system_config::actor_metrics. @threadsafe
  void meter_if_wanted(actor_cell& c, std::string_view name);
  /// See actor_system::add_metrics_source. @threadsafe
  std::uint64_t add_metrics_source(metrics_source f);
  /// See actor_system::remove_metrics_source. @threadsafe
  void remove_metrics_source(std::uint64_t id);
  /// See actor_system::metrics_text. @threadsafe
  [[nodiscard]] std::string metrics_text();

  void request_shutdown() noexcept;
  void await_shutdown();
  void shutdown();
  bool await_all_stopped(std::chrono::nanoseconds timeout);
  [[nodiscard]] system_stats stats() const noexcept;

 private:
  void arm_metrics_log();
  struct shard {
    std::mutex mx;
    actor_cell* head = nullptr;
  };
  struct log_gate {
    std::atomic<std::int64_t> next_ns{0};
    std::atomic<std::uint64_t> suppressed{0};
  };
  static constexpr std::size_t shard_count = 16;
  bool gate_open(log_gate& g, std::uint64_t& suppressed) noexcept;
  /// Logs a timer callback's exception (rate-limited, like log_failure).
  void log_timer_failure(const char* what) noexcept;
  template <class Describe>
  void note_drops(drop_reason r, std::uint64_t n, const Describe& describe) noexcept;
  void stop_all_once();
  /// The system's own families (counters, scheduler, metered actors).
  void write_metrics(metrics_writer& w);
  void write_actor_metrics(metrics_writer& w);
  void forget_meter(actor_cell* c) noexcept;
  /// One live actor fewer (stopped, or a spawn that failed in attach).
  void count_gone() noexcept;

  system_config cfg_;
  actor_system* owner_ = nullptr;
  std::size_t quantum_;
  thread_pool pool_;
  log_gate timer_failure_gate_;  // before timers_: its thread may log until it stops
  timer_service timers_;
  std::array<shard, shard_count> shards_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<bool> shutting_down_{false};
  alignas(64) std::atomic<std::uint64_t> live_{0};
  alignas(64) std::atomic<std::uint64_t> spawned_{0};
  std::atomic<std::uint64_t> stopped_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::array<std::atomic<std::uint64_t>, drop_reason_count> dead_{};
  std::array<log_gate, drop_reason_count> drop_gates_{};
  log_gate failure_gate_;

  std::mutex state_mx_;
  std::condition_variable state_cv_;
  bool shutdown_requested_ = false;
  bool shutdown_done_ = false;

  troupe::registry registry_;
  topic<dead_letter> dead_letters_;
  topic<child_restarted> child_restarts_;
  std::atomic<std::uint64_t> restarts_{0};
  std::atomic<std::uint64_t> give_ups_{0};

  struct alignas(64) padded_counter {
    std::atomic<std::uint64_t> v{0};
  };
  const bool metrics_on_;
  std::array<padded_counter, 16> processed_{};
  std::array<std::atomic<std::uint64_t>, 5> stopped_by_{};  // by exit_reason
  std::atomic<std::uint64_t> mutes_{0};
  std::mutex metered_mx_;
  std::vector<actor_cell*> metered_;  // each holds a reference, dropped at detach
  bool metered_cap_logged_ = false;   // under metered_mx_
  static constexpr std::size_t max_metered_actors = 10'000;
  std::mutex sources_mx_;
  std::vector<std::pair<std::uint64_t, metrics_source>> sources_;
  std::uint64_t next_source_ = 1;

  std::mutex dedicated_mx_;
  std::vector<std::unique_ptr<executor>> dedicated_;
};

} // namespace troupe::detail
