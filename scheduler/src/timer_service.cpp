#include "troupe/scheduler/timer_service.hpp"

#include <pthread.h>

#include <stdexcept>

namespace troupe {

namespace detail {
struct timer_state {
  std::function<void()> fn;
  timer_service::clock::duration period{};
  std::atomic<bool> active{true};
};
} // namespace detail

void timer_handle::cancel() const noexcept {
  if (state_) state_->active.store(false, std::memory_order_release);
}

bool timer_handle::active() const noexcept { return state_ && state_->active.load(std::memory_order_acquire); }

timer_service::timer_service() {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "troupe/timer");
}

timer_service::~timer_service() { stop(); }

void timer_service::stop() {
  {
    std::lock_guard lock(mx_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  std::lock_guard lock(mx_);
  heap_ = {};
}

timer_handle timer_service::add(clock::time_point at, clock::duration period, std::function<void()> fn) {
  auto st = std::make_shared<detail::timer_state>();
  st->fn = std::move(fn);
  st->period = period;
  bool earliest = false;
  {
    std::lock_guard lock(mx_);
    if (stopping_) {
      st->active.store(false);
      return timer_handle{st};
    }
    earliest = heap_.empty() || at < heap_.top().at;
    heap_.push({at, st});
  }
  if (earliest) cv_.notify_one();
  return timer_handle{st};
}

timer_handle timer_service::schedule_at(clock::time_point at, std::function<void()> fn) {
  return add(at, clock::duration::zero(), std::move(fn));
}

timer_handle timer_service::schedule_after(clock::duration delay, std::function<void()> fn) {
  if (delay < clock::duration::zero()) throw std::invalid_argument("timer_service: delay must not be negative");
  return add(clock::now() + delay, clock::duration::zero(), std::move(fn));
}

timer_handle timer_service::schedule_periodic(clock::duration period, std::function<void()> fn) {
  if (period <= clock::duration::zero()) throw std::invalid_argument("timer_service: period must be positive");
  return add(clock::now() + period, period, std::move(fn));
}

void timer_service::run() {
  std::unique_lock lock(mx_);
  while (!stopping_) {
    if (heap_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto at = heap_.top().at;
    if (clock::now() < at) {
      cv_.wait_until(lock, at);
      continue;
    }
    entry e = heap_.top();
    heap_.pop();
    if (!e.state->active.load(std::memory_order_acquire)) continue;
    const bool periodic = e.state->period > clock::duration::zero();
    if (periodic) {
      // Next deadline from the planned one, so a periodic timer does not drift.
      heap_.push({e.at + e.state->period, e.state});
    } else {
      e.state->active.store(false, std::memory_order_release);
    }
    lock.unlock();
    e.state->fn();
    lock.lock();
  }
}

} // namespace troupe
