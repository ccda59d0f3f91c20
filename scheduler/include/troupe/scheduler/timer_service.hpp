#pragma once
/// @file Delayed and periodic callbacks on one timer thread.
///
/// Callbacks run on the timer thread and must be short and never block
/// (they typically enqueue a message). The thread sleeps until the next
/// deadline, so an idle timer service uses no CPU.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace troupe {

namespace detail {
struct timer_state;
}

/// Cancels a scheduled timer. A value; copies refer to the same timer.
class timer_handle {
 public:
  timer_handle() = default;
  explicit timer_handle(std::shared_ptr<detail::timer_state> s) noexcept : state_(std::move(s)) {}

  /// Stops the timer: after this returns the callback is not started again
  /// (a call already running on the timer thread finishes). @threadsafe
  void cancel() const noexcept;

  /// False once cancelled or (for a one-shot timer) fired. @threadsafe
  [[nodiscard]] bool active() const noexcept;

 private:
  std::shared_ptr<detail::timer_state> state_;
};

/// A timer thread with a deadline heap.
class timer_service {
 public:
  using clock = std::chrono::steady_clock;

  /// Told (on the timer thread) what a callback threw; the timer thread
  /// goes on with the next timer.
  using failure_handler = std::function<void(const char* what)>;

  /// Starts the timer thread. A callback that throws is counted
  /// (`failures()`) and reported to `on_failure`, if given.
  explicit timer_service(failure_handler on_failure = {});
  /// Stops and joins the timer thread; pending timers never fire.
  ~timer_service();
  timer_service(const timer_service&) = delete;
  timer_service& operator=(const timer_service&) = delete;

  /// Runs `fn` once at `at`. @threadsafe
  timer_handle schedule_at(clock::time_point at, std::function<void()> fn);

  /// Longest delay, period or timeout (100 years): longer ones
  /// (`duration::max()` for "never") are cut to this, which no clock
  /// arithmetic can overflow. `detail::checked_timeout` uses it too.
  static constexpr clock::duration longest = std::chrono::hours(24 * 365 * 100);

  /// Runs `fn` after `delay` (at most `longest`).
  /// @throws std::invalid_argument for a negative delay. @threadsafe
  timer_handle schedule_after(clock::duration delay, std::function<void()> fn);

  /// Runs `fn` every `period` (at most `longest`), first after `period`.
  /// @throws std::invalid_argument unless period > 0. @threadsafe
  timer_handle schedule_periodic(clock::duration period, std::function<void()> fn);

  /// Callbacks that threw so far. @threadsafe
  [[nodiscard]] std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  /// Timers waiting to fire (cancelled ones not yet purged included). @threadsafe
  [[nodiscard]] std::size_t pending() const;

  /// Stops the thread; pending timers are dropped. Idempotent.
  void stop();

 private:
  struct entry {
    clock::time_point at;
    std::shared_ptr<detail::timer_state> state;
    bool operator>(const entry& o) const noexcept { return at > o.at; }
  };
  void run();
  void fire(const std::function<void()>& fn) noexcept;
  void failed(const char* what) noexcept;
  void purge_if_worth_it();
  timer_handle add(clock::time_point at, clock::duration period, std::function<void()> fn);

  mutable std::mutex mx_;
  std::condition_variable cv_;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> heap_;
  bool stopping_ = false;
  std::shared_ptr<std::atomic<std::size_t>> cancelled_ = std::make_shared<std::atomic<std::size_t>>(0);
  failure_handler on_failure_;
  std::atomic<std::uint64_t> failures_{0};
  std::thread thread_;
};

} // namespace troupe
