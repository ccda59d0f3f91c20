#pragma once
/// @file Base class of user actors: the actor's view of itself.
///
/// ```
/// struct counter : troupe::actor<counter> {
///   int n = 0;
///   void on(increment) { ++n; }          // tell
///   int on(get) { return n; }             // ask: the return value is the reply
///   void on_start() {}                    // optional hooks
///   void on_stop() {}
/// };
/// ```
/// Every member here may be called only from the actor's own handlers and
/// hooks (and its constructor): they act on the running actor.

#include <chrono>
#include <memory>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe {

namespace detail {
/// The cell whose actor is being constructed on this thread.
actor_cell*& constructing_cell() noexcept;
} // namespace detail

/// Base of an actor of type Derived (CRTP, so `self()` is typed).
template <class Derived>
class actor {
 public:
  /// Handle to this actor.
  [[nodiscard]] actor_ref<Derived> self() const noexcept { return actor_ref<Derived>::from_cell(cell_); }

  /// Stops this actor once the current handler returns (reason normal).
  void stop() noexcept { cell_->request_stop(exit_reason::normal); }

  /// Sends `msg` to `to` after `delay`. The returned handle cancels it.
  /// @throws std::invalid_argument for a negative delay.
  template <class B, class M, class Rep, class Period>
  timer_handle send_after(const actor_ref<B>& to, std::chrono::duration<Rep, Period> delay, M&& msg) {
    using D = std::remove_cvref_t<M>;
    auto box = std::make_shared<D>(std::forward<M>(msg));
    auto h = cell_->system().timers().schedule_after(detail::checked_timeout(delay, "send_after"), [to, box] {
      detail::never_block_scope nb;
      to.tell(std::move(*box));
    });
    track(h);
    return h;
  }

  /// Sends a copy of `msg` to `to` every `period` until cancelled or this
  /// actor stops. @throws std::invalid_argument unless period > 0.
  template <class B, class M, class Rep, class Period>
  timer_handle send_periodic(const actor_ref<B>& to, std::chrono::duration<Rep, Period> period, M msg) {
    static_assert(std::is_copy_constructible_v<M>, "troupe: send_periodic sends copies: the message must be copyable");
    auto h = cell_->system().timers().schedule_periodic(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(period), [to, msg] {
          detail::never_block_scope nb;
          to.tell(M(msg));
        });
    track(h);
    return h;
  }

  /// Sends `msg` to this actor itself, behind what is already queued (the
  /// `queueMicrotask` / `setTimeout(0)` pattern).
  template <class M>
  send_result defer(M&& msg) {
    return self().tell(std::forward<M>(msg));
  }

  /// Asks `to` and runs `on_reply(result<R>)` on this actor when the reply,
  /// an error or the timeout arrives. Never blocks the worker: this actor
  /// goes on handling other messages in between, so state may change before
  /// the continuation runs. Exactly one call of `on_reply` is made, unless
  /// this actor stops first (then none).
  /// @throws std::invalid_argument for a negative timeout.
  template <class B, class M, class Rep, class Period, class F>
  void ask(const actor_ref<B>& to, M&& msg, std::chrono::duration<Rep, Period> timeout, F&& on_reply) {
    using D = std::remove_cvref_t<M>;
    detail::check_sendable<D>();
    static_assert(handles<B, D>, "troupe: the asked actor has no handler `R on(M)` for this message type.");
    using R = reply_t<B, D>;
    static_assert(!std::is_void_v<R>, "troupe: ask needs a handler that returns its reply; use tell for void handlers.");
    static_assert(std::is_invocable_v<F&, result<R>>, "troupe: the continuation must be callable with troupe::result<R>.");
    const auto t = detail::checked_timeout(timeout, "ask");
    detail::cell_extras& x = cell_->extras();
    const std::uint64_t id = x.next_request++;
    auto pending = std::make_unique<detail::pending_ask<R, std::decay_t<F>>>(std::forward<F>(on_reply));
    detail::cell_ptr me(cell_);
    pending->timeout = cell_->system().timers().schedule_after(t, [me, id] {
      detail::actor_reply_slot<R>(me, id).fail(ask_error::timeout, "no reply within the timeout");
    });
    x.asks.emplace(id, std::move(pending));
    auto* e = new detail::message_envelope<D>(&detail::user_ops<B, D>::ops, std::forward<M>(msg));
    e->reply = new detail::actor_reply_slot<R>(std::move(me), id);
    if (to.cell() != nullptr) {
      to.cell()->enqueue(e);
    } else {
      detail::discard(e, ask_error::actor_stopped, "ask on an empty actor_ref");
    }
  }

 protected:
  actor() noexcept : cell_(detail::constructing_cell()) {}
  ~actor() = default;
  actor(const actor&) = delete;
  actor& operator=(const actor&) = delete;

 private:
  void track(const timer_handle& h) {
    auto& timers = cell_->extras().timers;
    std::erase_if(timers, [](const timer_handle& t) { return !t.active(); });
    timers.push_back(h);
  }
  detail::actor_cell* cell_;
};

} // namespace troupe
