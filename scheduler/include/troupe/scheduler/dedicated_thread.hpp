#pragma once
/// @file A thread of its own for one resumable that may block (file I/O, a
/// blocking library call), so it never stalls the pool's workers.

#include <atomic>
#include <semaphore>
#include <thread>

#include "troupe/scheduler/resumable.hpp"

namespace troupe {

/// Runs one resumable on its own thread whenever it is notified.
class dedicated_thread {
 public:
  /// Starts the thread; it sleeps until `notify`. `r` must outlive the
  /// thread's last turn (see `finish`).
  explicit dedicated_thread(resumable* r);
  /// Joins the thread; call `finish` (or let the resumable call it) first,
  /// or the destructor finishes it.
  ~dedicated_thread();
  dedicated_thread(const dedicated_thread&) = delete;
  dedicated_thread& operator=(const dedicated_thread&) = delete;

  /// The resumable has work: run turns until it returns idle. @threadsafe
  void notify() noexcept { wake_.release(); }

  /// The loop exits after the current turn and never touches the resumable
  /// again. @threadsafe (typically called by the resumable in its last turn)
  void finish() noexcept {
    done_.store(true, std::memory_order_release);
    wake_.release();
  }

  /// True once `finish` was called. @threadsafe
  [[nodiscard]] bool finished() const noexcept { return done_.load(std::memory_order_acquire); }

  /// True when called from this object's thread. @threadsafe
  [[nodiscard]] bool on_this_thread() const noexcept { return std::this_thread::get_id() == id_.load(); }

 private:
  void run();
  resumable* r_;
  std::atomic<bool> done_{false};
  std::counting_semaphore<> wake_{0};
  std::atomic<std::thread::id> id_{};
  std::thread thread_;
};

} // namespace troupe
