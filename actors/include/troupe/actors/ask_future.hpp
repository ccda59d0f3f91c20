#pragma once
/// @file The pending reply of an ask made from outside the actor system.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "troupe/actors/detail/timeouts.hpp"
#include "troupe/actors/envelope.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/scheduler/timer_service.hpp"

namespace troupe {

namespace detail {
/// What runs when the reply comes (see ask_future::then).
template <class R>
struct ask_callback {
  virtual ~ask_callback() = default;
  virtual void operator()(result<R>&& r) noexcept = 0;
};

template <class R>
struct ask_state {
  std::mutex mx;
  std::condition_variable cv;
  std::optional<result<R>> value;
  std::unique_ptr<ask_callback<R>> callback;  // set by then(): it takes the value
  timer_handle deadline;                      // armed by then(): fails the ask at its deadline

  /// The first of reply, failure and timeout wins; later ones are dropped.
  void set(result<R>&& r) {
    std::unique_ptr<ask_callback<R>> cb;
    {
      std::lock_guard lock(mx);
      if (value) return;
      value.emplace(std::move(r));
      cb = std::move(callback);
      cv.notify_all();
    }
    if (cb) {
      deadline.cancel();
      (*cb)(std::move(*value));
    }
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
/// A value, to be used once: `get()` (blocking), or `then(callback)`, or
/// `troupe::async_get` (Asio, in troupe/actors/asio_future.hpp).
template <class R>
class ask_future {
 public:
  ask_future(std::shared_ptr<detail::ask_state<R>> s, std::chrono::steady_clock::time_point deadline,
             timer_service* timers) noexcept
      : state_(std::move(s)), deadline_(deadline), timers_(timers) {}

  /// Blocks until the reply arrives or the ask's timeout expires (then the
  /// result holds `ask_error::timeout`; a later reply is discarded).
  /// Never call this from inside an actor: use `actor::ask` instead.
  /// @throws std::logic_error after `then`.
  [[nodiscard]] result<R> get() {
    std::unique_lock lock(state_->mx);
    if (taken_) throw std::logic_error("ask_future::get after then: the callback has the reply");
    if (!state_->cv.wait_until(lock, deadline_, [&] { return state_->value.has_value(); })) {
      return result<R>(failure{ask_error::timeout, "no reply within the timeout"});
    }
    return std::move(*state_->value);
  }

  /// Waits up to `d` for the reply; true when `get()` will not block (the
  /// reply or a failure arrived, or the ask's own timeout passed).
  /// @note Not from inside an actor.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> d) const {
    const auto until = std::min(deadline_, std::chrono::steady_clock::now() + detail::checked_timeout(d, "wait_for"));
    std::unique_lock lock(state_->mx);
    return state_->cv.wait_until(lock, until, [&] { return state_->value.has_value(); }) ||
           std::chrono::steady_clock::now() >= deadline_;
  }

  /// True when the reply (or an error) has arrived. @threadsafe
  [[nodiscard]] bool ready() const {
    std::lock_guard lock(state_->mx);
    return state_->value.has_value();
  }

  /// Calls `f(result<R>)` exactly once: with the reply, the failure, or
  /// `ask_error::timeout` at the ask's deadline. It runs on the thread that
  /// settles the ask (an actor's worker, the timer thread) or, when the
  /// reply is already here, on the caller's, before `then` returns: keep it
  /// short and never block in it (post to your own executor instead). An
  /// exception from `f` is swallowed. Consumes the future.
  /// @throws std::logic_error when called twice; what allocating the
  /// callback throws.
  template <class F>
    requires std::is_invocable_v<F&, result<R>&&>
  void then(F f) {
    struct holder final : detail::ask_callback<R> {
      explicit holder(F&& fn) : fn(std::move(fn)) {}
      void operator()(result<R>&& r) noexcept override {
        try {
          fn(std::move(r));
        } catch (...) {
        }
      }
      F fn;
    };
    auto cb = std::make_unique<holder>(std::move(f));
    {
      std::lock_guard lock(state_->mx);
      if (taken_) throw std::logic_error("ask_future::then called twice");
      taken_ = true;
      if (!state_->value) {
        state_->callback = std::move(cb);
        if (timers_ != nullptr) {
          std::weak_ptr<detail::ask_state<R>> w = state_;
          state_->deadline = timers_->schedule_at(deadline_, [w] {
            if (auto s = w.lock()) s->set(result<R>(failure{ask_error::timeout, "no reply within the timeout"}));
          });
        }
        return;
      }
    }
    (*cb)(std::move(*state_->value));
  }

 private:
  std::shared_ptr<detail::ask_state<R>> state_;
  std::chrono::steady_clock::time_point deadline_;
  timer_service* timers_;
  bool taken_ = false;  // then() was called (guarded by state_->mx)
};

} // namespace troupe
