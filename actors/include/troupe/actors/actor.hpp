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
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/any_ref.hpp"
#include "troupe/actors/behavior.hpp"
#include "troupe/actors/promise.hpp"
#include "troupe/actors/task.hpp"
#include "troupe/actors/signals.hpp"
#include "troupe/actors/detail/ask_awaiter.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/spawn.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/actors/system_config.hpp"

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

  /// The system this actor runs in.
  [[nodiscard]] actor_system& system() const noexcept { return cell_->system().owner(); }
  /// The system's name table (`registry().put("db", self())`).
  [[nodiscard]] troupe::registry& registry() const noexcept { return cell_->system().names(); }

  /// Spawns an actor of type A from `args` in this actor's system, with the
  /// system's default mailbox (as `actor_system::spawn`).
  template <class A, class... Args>
  actor_ref<A> spawn(Args&&... args) {
    return detail::spawn_cell<A>(cell_->system(), spawn_options{}, std::forward<Args>(args)...);
  }
  /// Spawns with explicit options (as `actor_system::spawn_with`).
  template <class A, class... Args>
  actor_ref<A> spawn_with(const spawn_options& opts, Args&&... args) {
    return detail::spawn_cell<A>(cell_->system(), opts, std::forward<Args>(args)...);
  }

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
        detail::checked_timeout(period, "send_periodic"), [to, msg] {
          detail::never_block_scope nb;
          to.tell(M(msg));
        });
    track(h);
    return h;
  }

  /// Watches `target`: exactly one `down` arrives when it stops for good (at
  /// once when it already has). This actor must handle `troupe::down`.
  /// Returns the monitor id for `demonitor`.
  std::uint64_t monitor(const any_ref& target) {
    static_assert(handles<Derived, down>, "troupe: to monitor, the actor needs a handler `void on(troupe::down)`");
    if (!target) throw std::invalid_argument("monitor: empty handle");
    return cell_->monitor(*target.cell(), &detail::down_ops<Derived>::ops);
  }
  /// Cancels a monitor; its `down` will not be delivered (even if on its way).
  void demonitor(std::uint64_t id) { cell_->demonitor(id); }

  /// Links this actor with `other`, both ways: when either stops abnormally
  /// the other stops too, unless it traps exits (handles `troupe::exit_msg`).
  /// Linking to an actor that is gone fires at once.
  void link(const any_ref& other) {
    if (!other) throw std::invalid_argument("link: empty handle");
    cell_->link(*other.cell());
  }
  /// Removes a link, both ways.
  void unlink(const any_ref& other) {
    if (other) cell_->unlink(*other.cell());
  }

  /// Puts the message being handled aside: it is not consumed, and comes
  /// back (ahead of the mailbox, in order) at `unstash_all()`. An ask stays
  /// unanswered until then. At most the mailbox's capacity messages;
  /// @throws std::length_error beyond (the actor then fails).
  void stash() { cell_->stash_current(); }
  /// Gives every stashed message back, to be handled next.
  void unstash_all() { cell_->unstash_all(); }

  /// Switches to behaviour `b` (pushed on a stack): messages it handles go
  /// to it; others to this actor's own `on` overloads.
  void become(behavior b) { cell_->extras().behaviors.push_back(std::make_shared<const behavior>(std::move(b))); }
  /// Returns to the previous behaviour (the class's own when none is left).
  void unbecome() {
    if (auto* x = cell_->extras_if_any(); x != nullptr && !x->behaviors.empty()) x->behaviors.pop_back();
  }

  /// After `period` with no message, this actor receives a copy of `msg`
  /// (again after each further idle period) until it stops or calls this
  /// again. @throws std::invalid_argument unless period > 0.
  template <class M, class Rep, class Period>
  void set_idle_timeout(std::chrono::duration<Rep, Period> period, M msg) {
    static_assert(handles<Derived, M>, "troupe: the actor has no handler for the idle-timeout message");
    if (period <= std::chrono::duration<Rep, Period>::zero()) {
      throw std::invalid_argument("set_idle_timeout: period must be positive");
    }
    cell_->set_idle_timeout(detail::checked_timeout(period, "set_idle_timeout"),  // at most 100 years, no overflow
                            [to = self(), msg] {
                              detail::never_block_scope nb;
                              to.tell(M(msg));
                            });
  }

  /// Sends `msg` to this actor itself, behind what is already queued (the
  /// `queueMicrotask` / `setTimeout(0)` pattern).
  template <class M>
  send_result defer(M&& msg) {
    return self().tell(std::forward<M>(msg));
  }

  /// Takes over the reply of the message being handled, in a handler that
  /// returns `promise<R>`: return it, and settle it (or a copy) later.
  template <class R>
  [[nodiscard]] promise<R> make_promise() {
    return troupe::make_promise<R>();
  }

  /// True while handling a message that a durable (or write-ahead) spill
  /// mailbox recovered from the files an earlier run of the process left:
  /// it was accepted then, and may have been handled, in part, before the
  /// crash. A handler that must not act twice checks it.
  [[nodiscard]] bool redelivered() const noexcept { return cell_->redelivered(); }

  /// Asks `to` and runs `on_reply(result<R>)` on this actor when the reply,
  /// an error or the timeout arrives. Never blocks the worker: this actor
  /// goes on handling other messages in between, so state may change before
  /// the continuation runs. Exactly one call of `on_reply` is made, unless
  /// this actor stops first (then none).
  /// @throws std::invalid_argument for a negative timeout.
  template <class H, class M, class Rep, class Period, class F>
  void ask(const H& to, M&& msg, std::chrono::duration<Rep, Period> timeout, F&& on_reply) {
    using D = std::remove_cvref_t<M>;
    detail::check_sendable<D>();
    using target = detail::ask_target<H, D>;
    static_assert(target::accepts, "troupe: the asked actor has no handler `R on(M)` for this message type "
                                   "(or the troupe::ref does not list it as `R(M)`).");
    using R = typename target::reply;
    static_assert(!std::is_void_v<R>, "troupe: ask needs a handler that returns its reply; use tell for void handlers.");
    static_assert(std::is_invocable_v<F&, result<R>>, "troupe: the continuation must be callable with troupe::result<R>.");
    const auto t = detail::checked_timeout(timeout, "ask");
    detail::send_ask<R, D>(*cell_, to.cell(), target::ops(to),
                           std::make_unique<detail::pending_ask<R, std::decay_t<F>>>(std::forward<F>(on_reply)), t,
                           std::forward<M>(msg));
  }

  /// Asks `to` from a coroutine handler (one returning `troupe::task<T>`):
  /// `result<R> r = co_await ask(to, msg, 1s);` The handler resumes on this
  /// actor, in a turn, when the reply, an error or the timeout arrives.
  /// Sent when awaited (an ask not awaited is never sent). In a `task`,
  /// other messages are handled while it waits (state may change across
  /// the co_await); in an `exclusive_task`, none but system messages.
  /// @throws std::invalid_argument for a negative timeout.
  template <class H, class M, class Rep, class Period>
  [[nodiscard]] auto ask(const H& to, M&& msg, std::chrono::duration<Rep, Period> timeout) {
    using D = std::remove_cvref_t<M>;
    detail::check_sendable<D>();
    using target = detail::ask_target<H, D>;
    static_assert(target::accepts, "troupe: the asked actor has no handler `R on(M)` for this message type "
                                   "(or the troupe::ref does not list it as `R(M)`).");
    using R = typename target::reply;
    static_assert(!std::is_void_v<R>, "troupe: ask needs a handler that returns its reply; use tell for void handlers.");
    return detail::ask_awaiter<R, D>(*cell_, to.cell(), target::ops(to), D(std::forward<M>(msg)),
                                     detail::checked_timeout(timeout, "ask"));
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
