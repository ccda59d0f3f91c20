#include "troupe/scheduler/timer_service.hpp"

#include <pthread.h>

#include <algorithm>
#include <stdexcept>

namespace troupe {

namespace detail {
struct timer_state {
  std::function<void()> fn;
  timer_service::clock::duration period{};
  std::atomic<bool> active{true};
  std::shared_ptr<std::atomic<std::size_t>> cancelled;  // the service's count of cancelled, still-queued timers
};
} // namespace detail

void timer_handle::cancel() const noexcept {
  if (state_ && state_->active.exchange(false, std::memory_order_acq_rel)) {
    state_->cancelled->fetch_add(1, std::memory_order_relaxed);
  }
}

bool timer_handle::active() const noexcept { return state_ && state_->active.load(std::memory_order_acquire); }

timer_service::timer_service(failure_handler on_failure) : on_failure_(std::move(on_failure)) {
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
  st->cancelled = cancelled_;
  bool earliest = false;
  {
    std::lock_guard lock(mx_);
    if (stopping_) {
      st->active.store(false);
      return timer_handle{st};
    }
    purge_if_worth_it();
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
  return add(clock::now() + std::min(delay, longest), clock::duration::zero(), std::move(fn));
}

timer_handle timer_service::schedule_periodic(clock::duration period, std::function<void()> fn) {
  if (period <= clock::duration::zero()) throw std::invalid_argument("timer_service: period must be positive");
  period = std::min(period, longest);
  return add(clock::now() + period, period, std::move(fn));
}

void timer_service::purge_if_worth_it() {
  // Cancelled timers (an ask answered long before its timeout) would sit in
  // the heap until their deadline; drop them once they are the majority.
  const std::size_t cancelled = cancelled_->load(std::memory_order_relaxed);
  if (cancelled < 1024 || cancelled < heap_.size() / 2) return;
  std::vector<entry> live;
  live.reserve(heap_.size() - std::min(cancelled, heap_.size()));
  std::size_t removed = 0;
  while (!heap_.empty()) {
    if (heap_.top().state->active.load(std::memory_order_acquire)) {
      live.push_back(heap_.top());
    } else {
      ++removed;
    }
    heap_.pop();
  }
  heap_ = decltype(heap_)(std::greater<>{}, std::move(live));
  cancelled_->fetch_sub(std::min(removed, cancelled), std::memory_order_relaxed);
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
    if (!e.state->active.load(std::memory_order_acquire)) {
      // Cancelled: it leaves the heap now (one-shots that fired were never counted).
      if (cancelled_->load(std::memory_order_relaxed) > 0) cancelled_->fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    const bool periodic = e.state->period > clock::duration::zero();
    if (periodic) {
      // Next deadline from the planned one, so a periodic timer does not drift.
      heap_.push({e.at + e.state->period, e.state});
    } else {
      e.state->active.store(false, std::memory_order_release);  // fired: cancel() is a no-op now
    }
    lock.unlock();
    fire(e.state->fn);
    lock.lock();
  }
}

void timer_service::fire(const std::function<void()>& fn) noexcept {
  // One timer's failure (a message copy that throws, bad_alloc) must not
  // end the thread every other timer depends on.
  try {
    fn();
  } catch (const std::exception& ex) {
    failed(ex.what());
  } catch (...) {
    failed("unknown exception");
  }
}

void timer_service::failed(const char* what) noexcept {
  failures_.fetch_add(1, std::memory_order_relaxed);
  if (!on_failure_) return;
  try {
    on_failure_(what);
  } catch (...) {
  }
}

std::size_t timer_service::pending() const {
  std::lock_guard lock(mx_);
  return heap_.size();
}

} // namespace troupe
