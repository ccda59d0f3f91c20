#pragma once
/// @file Answering an ask later: a handler that returns `promise<R>`.
///
/// ```
/// troupe::promise<int> on(compute c) {
///   auto p = make_promise<int>();      // takes over the asker's reply
///   ask(worker_, c, 1s, [p](troupe::result<int> r) mutable { p.settle(std::move(r)); });
///   return p;
/// }
/// ```
/// The asker sees an ordinary `R` reply (`ask` on such a handler yields R).

#include <string>
#include <type_traits>
#include <utility>

#include "troupe/actors/envelope.hpp"
#include "troupe/actors/send_result.hpp"

namespace troupe {

namespace detail {
/// The reply slot of the message whose promise-returning handler runs now.
reply_slot_base*& pending_reply() noexcept;
} // namespace detail

/// The pending reply of one ask. Move-only; copyable handles can share it
/// through a std::shared_ptr. Settled at most once; a promise destroyed
/// unsettled answers `ask_error::actor_stopped`.
template <class R>
class promise {
 public:
  promise() noexcept = default;
  explicit promise(detail::reply_slot<R>* slot) noexcept : slot_(slot) {}
  promise(promise&& o) noexcept : slot_(std::exchange(o.slot_, nullptr)) {}
  promise& operator=(promise&& o) noexcept {
    if (this != &o) {
      reset();
      slot_ = std::exchange(o.slot_, nullptr);
    }
    return *this;
  }
  promise(const promise&) = delete;
  promise& operator=(const promise&) = delete;
  ~promise() { reset(); }

  /// Answers with `value`. No-op if already settled or there was no asker. @threadsafe (once)
  void deliver(R value) {
    if (auto* s = std::exchange(slot_, nullptr)) {
      s->deliver(std::move(value));
      delete s;
    }
  }
  /// Answers with an error.
  void fail(ask_error code, std::string message) {
    if (auto* s = std::exchange(slot_, nullptr)) {
      s->fail(code, std::move(message));
      delete s;
    }
  }
  /// Answers with `r`: its value or its error.
  void settle(result<R> r) {
    if (r.ok()) {
      deliver(std::move(r).value());
    } else {
      fail(ask_error_of(r.error()), std::string(r.message()));
    }
  }
  /// True while an asker still waits.
  [[nodiscard]] bool pending() const noexcept { return slot_ != nullptr; }

 private:
  void reset() noexcept {
    if (auto* s = std::exchange(slot_, nullptr)) {
      s->fail(ask_error::actor_stopped, "the promise was dropped unanswered");
      delete s;
    }
  }
  detail::reply_slot<R>* slot_ = nullptr;
};

template <class T>
struct is_promise : std::false_type {};
template <class R>
struct is_promise<promise<R>> : std::true_type {
  using value_type = R;
};

/// Takes over the reply of the message being handled. Only inside a
/// handler declared to return `promise<R>`; empty when the message was a tell.
template <class R>
promise<R> make_promise() noexcept {
  return promise<R>(static_cast<detail::reply_slot<R>*>(std::exchange(detail::pending_reply(), nullptr)));
}

} // namespace troupe
