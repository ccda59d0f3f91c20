#pragma once
/// @file The worker pool: per-worker run queues, a "next" slot for cache-hot
/// hand-off, an injection queue for work from outside, stealing, parking.

#include <atomic>
#include <cstddef>
#include <condition_variable>
#include <deque>
#include <thread>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "troupe/scheduler/idle_poller.hpp"
#include "troupe/scheduler/resumable.hpp"

namespace troupe {

/// Options of a `thread_pool`.
struct pool_options {
  /// Worker threads; 0 means one per core (std::thread::hardware_concurrency).
  std::size_t threads = 0;
  /// Rounds an idle worker searches for work before it parks. Parked
  /// workers use no CPU; a short search keeps wake-up latency low under load.
  std::size_t spin_rounds = 64;
  /// Thread name prefix (shown by top -H, gdb).
  std::string name = "troupe";

  /// Throws std::invalid_argument for an absurd thread count (over 1024).
  void validate() const;
};

/// Snapshot of scheduler counters.
struct pool_stats {
  std::uint64_t steals = 0;   ///< resumables taken from another worker
  std::uint64_t parks = 0;    ///< times a worker went to sleep
  std::uint64_t injected = 0; ///< resumables scheduled from outside the pool
  std::uint64_t injection_depth = 0;  ///< of those, waiting in the injection queue now
};

/// A fixed pool of worker threads that runs `resumable`s.
///
/// Scheduling from a worker goes to that worker's local queue (or its "next"
/// slot with `schedule_hot`); from any other thread to a shared injection
/// queue. Idle workers steal from each other and then park on a semaphore.
class thread_pool {
 public:
  /// Starts the workers. @throws std::invalid_argument for bad options.
  explicit thread_pool(pool_options opts = {});
  /// Stops and joins the workers (see `stop`).
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// Makes `r` runnable. @threadsafe
  /// From one of this pool's workers it goes to that worker's local queue;
  /// from elsewhere to the injection queue, waking a parked worker.
  void schedule(resumable* r) noexcept;

  /// Like `schedule`, but from a worker `r` runs right after the current
  /// turn on the same worker (its data is still in this core's cache).
  /// Used when a running actor wakes another. @threadsafe
  void schedule_hot(resumable* r) noexcept;

  /// Stops the workers after their current turn and joins them. Work still
  /// queued is not run. Idempotent. Must not be called from a worker.
  void stop();

  /// Number of worker threads.
  [[nodiscard]] std::size_t size() const noexcept { return workers_.size(); }

  /// True when the calling thread is one of this pool's workers. @threadsafe
  [[nodiscard]] bool on_worker() const noexcept;

  /// @threadsafe (a snapshot)
  [[nodiscard]] pool_stats stats() const noexcept;

  /// Idle workers poll `p` from now on (see idle_poller). At most
  /// `max_pollers` at once: false when full (`p` is then not polled).
  /// @threadsafe
  bool add_poller(idle_poller* p);
  /// Stops polling `p`; returns once no worker is in a call on it. Must not
  /// be called from a worker. @threadsafe
  void remove_poller(idle_poller* p);
  static constexpr std::size_t max_pollers = 32;

  struct worker;  // private to the implementation

 private:
  void run(worker& w);
  resumable* find_work(worker& w, bool take_next);
  resumable* steal(worker& w);
  bool any_hot_slot_busy() const noexcept;
  void arm_watchdog() noexcept;
  void watch();
  resumable* pop_injected(worker& w);
  void push_local(worker& w, resumable* r) noexcept;
  void notify_one() noexcept;
  resumable* park(worker& w);
  void begin_watch(worker& w) noexcept;
  bool poll_watched(worker& w) noexcept;
  void end_watch(worker& w) noexcept;
  bool cancel_park(worker& w);

  pool_options opts_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<bool> stopping_{false};

  // Injection queue: work from outside the pool, and overflow.
  std::mutex inject_mx_;
  std::deque<resumable*> injected_;
  alignas(64) std::atomic<std::size_t> injected_size_{0};

  // Parked workers.
  std::mutex idle_mx_;
  std::vector<worker*> idle_;
  alignas(64) std::atomic<std::size_t> idle_count_{0};
  std::atomic<std::size_t> searching_{0};  // workers spinning before they park

  std::atomic<std::uint64_t> steals_{0}, parks_{0}, injected_total_{0};

  // Idle pollers: a fixed table (null = free), read by searching workers.
  std::mutex pollers_mx_;
  std::atomic<idle_poller*> pollers_[max_pollers] = {};
  std::atomic<std::size_t> poller_slots_{0};  // slots in use are below this
  std::atomic<bool> watcher_{false};          // a worker watches the pollers

  // Watchdog for actors waiting in the hot slot of a worker stuck in a long
  // turn. Asleep (no CPU) whenever no hot slot is in use.
  std::mutex watchdog_mx_;
  std::condition_variable watchdog_cv_;
  bool watchdog_stop_ = false;
  std::atomic<bool> watchdog_armed_{false};
  std::thread watchdog_;
};

} // namespace troupe
