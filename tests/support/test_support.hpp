#pragma once
/// @file Helpers shared by the troupe test suites: bounded waits, a gate a
/// blocked handler waits on, sanitizer-aware sizes and process CPU time.
///
/// Every wait here has a deadline: a test that would hang fails instead.

#include <time.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

#include "troupe/detail/sanitizers.hpp"

namespace troupe::test {

inline constexpr bool sanitized = detail::thread_sanitized || detail::address_sanitized;
inline constexpr bool address_sanitized = detail::address_sanitized;

/// `normal` in an optimised build, `small` under a sanitizer (~10x slower).
constexpr std::size_t scaled(std::size_t normal, std::size_t small) noexcept { return sanitized ? small : normal; }

/// Generous deadline for anything that should take milliseconds.
inline constexpr std::chrono::seconds long_wait{30};

/// Polls `pred` until it holds or `timeout` passes. True when it held.
/// For state that has no notification (counters, stats); prefer an inbox,
/// an ask or a gate when there is one.
template <class Pred, class Rep, class Period>
bool wait_until(Pred&& pred, std::chrono::duration<Rep, Period> timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

/// A one-shot gate: threads wait (with a deadline) until someone opens it.
class gate {
 public:
  void open() {
    // Notify under the lock: a waiter may destroy the gate as soon as it
    // can see it open.
    std::lock_guard lock(mx_);
    open_ = true;
    cv_.notify_all();
  }
  /// True when the gate opened before the timeout.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mx_);
    return cv_.wait_for(lock, timeout, [&] { return open_; });
  }
  [[nodiscard]] bool is_open() {
    std::lock_guard lock(mx_);
    return open_;
  }

 private:
  std::mutex mx_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// Opens a gate when it goes out of scope, so a failing assertion never
/// leaves a handler blocked (and the system's shutdown waiting for it).
class gate_opener {
 public:
  explicit gate_opener(gate& g) noexcept : g_(g) {}
  ~gate_opener() { g_.open(); }
  gate_opener(const gate_opener&) = delete;
  gate_opener& operator=(const gate_opener&) = delete;

 private:
  gate& g_;
};

/// CPU time consumed by the whole process (all threads) so far.
inline std::chrono::nanoseconds process_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

/// CPU time the process burns during `wall` of wall-clock time in which
/// the test itself only sleeps (sleeping here measures, it does not
/// synchronise anything).
inline std::chrono::nanoseconds cpu_burnt_while_sleeping(std::chrono::milliseconds wall) {
  const auto before = process_cpu_time();
  std::this_thread::sleep_for(wall);
  return process_cpu_time() - before;
}

/// Budget for an idle process over one second of wall time.
inline constexpr std::chrono::milliseconds idle_cpu_budget{sanitized ? 150 : 50};

} // namespace troupe::test
