#pragma once
/// @file Answering an ask later: a handler that returns `promise<R>`.
///
/// ```
/// troupe::promise<int> on(compute c) {
///   auto p = make_promise<int>();      // takes over the asker's reply
///   ask(worker_, c, 1s, [p](troupe::result<int> r) { p.settle(std::move(r)); });
///   return p;
/// }
/// ```
/// The asker sees an ordinary `R` reply (`ask` on such a handler yields R).

#include <atomic>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "troupe/actors/envelope.hpp"
#include "troupe/actors/send_result.hpp"

namespace troupe {

namespace detail {
/// The reply slot of the message whose promise-returning handler runs now.
reply_slot_base*& pending_reply() noexcept;

/// What the copies of one promise share: the asker's reply slot, taken by
/// the first settle; the last copy gone with it still there answers
/// `actor_stopped`.
template <class R>
struct promise_state {
  explicit promise_state(reply_slot<R>* s) noexcept : slot(s) {}
  promise_state(const promise_state&) = delete;
  promise_state& operator=(const promise_state&) = delete;
  ~promise_state() {
    if (auto* s = slot.exchange(nullptr, std::memory_order_acq_rel)) {
      s->fail(ask_error::actor_stopped, "the promise was dropped unanswered");
      delete s;
    }
  }
  std::atomic<reply_slot<R>*> slot;
};
} // namespace detail

/// The pending reply of one ask: return it from the handler, settle it
/// later from any continuation, on any thread. Copies share one reply
/// (capture it by value); the first `deliver`, `fail` or `settle` answers,
/// later ones do nothing. When the last copy goes unsettled, the asker gets
/// `ask_error::actor_stopped`. Empty (every call a no-op) when the message
/// was a tell.
template <class R>
class promise {
 public:
  promise() noexcept = default;
  explicit promise(detail::reply_slot<R>* slot) {
    if (slot != nullptr) {
      try {
        state_ = std::make_shared<detail::promise_state<R>>(slot);
      } catch (...) {
        slot->fail(ask_error::exception, "no memory for the promise");
        delete slot;
        throw;
      }
    }
  }

  /// Answers with `value`. @threadsafe (the first settle wins)
  void deliver(R value) const {
    if (auto* s = take()) {
      s->deliver(std::move(value));
      delete s;
    }
  }
  /// Answers with an error. @threadsafe
  void fail(ask_error code, std::string message) const {
    if (auto* s = take()) {
      s->fail(code, std::move(message));
      delete s;
    }
  }
  /// Answers with `r`: its value or its error. @threadsafe
  void settle(result<R> r) const {
    if (r.ok()) {
      deliver(std::move(r).value());
    } else {
      fail(ask_error_of(r.error()), std::string(r.message()));
    }
  }
  /// True while an asker still waits. @threadsafe
  [[nodiscard]] bool pending() const noexcept {
    return state_ && state_->slot.load(std::memory_order_acquire) != nullptr;
  }

 private:
  detail::reply_slot<R>* take() const noexcept {
    return state_ ? state_->slot.exchange(nullptr, std::memory_order_acq_rel) : nullptr;
  }
  std::shared_ptr<detail::promise_state<R>> state_;
};

template <class T>
struct is_promise : std::false_type {};
template <class R>
struct is_promise<promise<R>> : std::true_type {
  using value_type = R;
};

/// Takes over the reply of the message being handled. Only inside a
/// handler declared to return `promise<R>` (in an actor, the member
/// `make_promise<R>()` is the same); empty when the message was a tell.
/// @throws std::bad_alloc (the asker then gets ask_error::exception)
template <class R>
promise<R> make_promise() {
  return promise<R>(static_cast<detail::reply_slot<R>*>(std::exchange(detail::pending_reply(), nullptr)));
}

} // namespace troupe
