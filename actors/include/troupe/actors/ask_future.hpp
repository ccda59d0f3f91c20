#pragma once
/// @file The pending reply of an ask made from outside the actor system.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "troupe/actors/envelope.hpp"
#include "troupe/actors/send_result.hpp"

namespace troupe {

namespace detail {
template <class R>
struct ask_state {
  std::mutex mx;
  std::condition_variable cv;
  std::optional<result<R>> value;
  void set(result<R>&& r) {
    std::lock_guard lock(mx);
    if (!value) value.emplace(std::move(r));
    cv.notify_all();
  }
};

template <class R>
struct future_reply_slot final : reply_slot<R> {
  explicit future_reply_slot(std::shared_ptr<ask_state<R>> s) noexcept : state(std::move(s)) {}
  void deliver(R&& v) noexcept override { state->set(result<R>(std::move(v))); }
  void fail(ask_error code, std::string msg) noexcept override { state->set(result<R>(failure{code, std::move(msg)})); }
  std::shared_ptr<ask_state<R>> state;
};
} // namespace detail

/// The reply of `actor_ref::ask` called from a thread outside the system.
/// A value; `get()` may be called once.
template <class R>
class ask_future {
 public:
  ask_future(std::shared_ptr<detail::ask_state<R>> s, std::chrono::steady_clock::time_point deadline) noexcept
      : state_(std::move(s)), deadline_(deadline) {}

  /// Blocks until the reply arrives or the ask's timeout expires (then the
  /// result holds `ask_error::timeout`; a later reply is discarded).
  /// Never call this from inside an actor: use the continuation form of ask.
  [[nodiscard]] result<R> get() {
    std::unique_lock lock(state_->mx);
    if (!state_->cv.wait_until(lock, deadline_, [&] { return state_->value.has_value(); })) {
      return result<R>(failure{ask_error::timeout, "no reply within the timeout"});
    }
    return std::move(*state_->value);
  }

  /// True when the reply (or an error) has arrived. @threadsafe
  [[nodiscard]] bool ready() const {
    std::lock_guard lock(state_->mx);
    return state_->value.has_value();
  }

 private:
  std::shared_ptr<detail::ask_state<R>> state_;
  std::chrono::steady_clock::time_point deadline_;
};

} // namespace troupe
