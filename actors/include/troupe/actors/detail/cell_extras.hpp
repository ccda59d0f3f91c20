#pragma once
/// @file Rarely used per-actor state, allocated on first use so an idle
/// actor stays small: pending asks made by the actor, and its timers.

#include <atomic>
#include <chrono>
#include <optional>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <memory>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "troupe/actors/trace.hpp"
#include "troupe/actors/behavior.hpp"
#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/exit_reason.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/mailbox/block_pool.hpp"
#include "troupe/scheduler/timer_service.hpp"

namespace troupe::detail {

/// Something waiting for the reply of an ask made by an actor: a
/// continuation, or a suspended coroutine. From the pool, like envelopes.
struct pending_ask_base : pool::pooled {
  virtual ~pending_ask_base() = default;
  /// Completes with a `result<R>*` (type known to the subclass).
  virtual void complete(void* result) = 0;
  /// Completes with ask_error::timeout.
  virtual void expire() = 0;
  /// When `expire` is due (max: never).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  /// The asking handler's trace context, restored while its continuation
  /// runs (empty when it had none).
  std::optional<trace_context> trace;
};

template <class R, class F>
struct pending_ask final : pending_ask_base {
  explicit pending_ask(F f) : fn(std::move(f)) {}
  void complete(void* r) override { fn(std::move(*static_cast<result<R>*>(r))); }
  void expire() override { fn(result<R>(failure{ask_error::timeout, "no reply within the timeout"})); }
  F fn;
};

struct task_promise_base;

/// A supervised child's report that an incarnation ended.
struct child_exit {
  cell_ptr child;
  exit_reason reason;
  std::string what;
};

/// Somebody watching this actor (a monitor).
struct watcher {
  cell_ptr who;
  std::uint64_t id;
  const message_ops* down_ops;  ///< delivers `down` to the watcher's type
};

struct cell_extras {
  // Asks this actor made (by request id), and the one timer that expires
  // them: armed for the earliest deadline, so an ask answered in time costs
  // no timer of its own (see asks.cpp).
  using ask_table = std::unordered_map<std::uint64_t, std::unique_ptr<pending_ask_base>, std::hash<std::uint64_t>,
                                       std::equal_to<>,
                                       pool::allocator<std::pair<const std::uint64_t, std::unique_ptr<pending_ask_base>>>>;
  ask_table asks;
  std::uint64_t next_request = 1;
  timer_handle ask_timer;
  std::chrono::steady_clock::time_point ask_timer_at = std::chrono::steady_clock::time_point::max();

  // Coroutine handlers suspended now (task.hpp), and how many of them wait
  // non-reentrantly: while any does, only the system lane is served.
  task_promise_base* tasks = nullptr;
  std::uint32_t exclusive_waits = 0;
  std::vector<timer_handle> timers;  ///< cancelled when an incarnation ends

  // Monitors this actor holds (id -> target) and those watching it.
  std::unordered_map<std::uint64_t, cell_ptr> monitoring;
  std::uint64_t next_monitor = 1;
  std::vector<watcher> watchers;

  // Links of the current incarnation.
  std::vector<cell_ptr> links;

  // Stash: messages put aside by the current handler, and those given back.
  std::deque<envelope*> stash;
  std::deque<envelope*> unstashed;
  bool stash_current = false;
  std::size_t stash_capacity = 0;  ///< 0 = the mailbox's capacity

  // Where user messages left in the mailbox at the final stop go instead
  // of becoming dead letters (set by a handover stop: the cluster's
  // passivation re-sends them to the identity's next activation). True:
  // it took the envelope.
  std::function<bool(envelope*)> handover;

  // Behaviours pushed by become().
  std::vector<std::shared_ptr<const behavior>> behaviors;

  // Supervision: who decides about this actor's restarts, how to rebuild it.
  cell_ptr supervisor;
  const message_ops* child_exit_ops = nullptr;
  std::function<void(actor_cell&)> rebuild;
  bool suspended = false;       ///< between incarnations, waiting for the supervisor
  bool final = false;           ///< the next stop is for good

  // Idle timeout.
  timer_handle idle_timer;
  std::atomic<std::int64_t> last_active_ns{0};
  bool idle_tracking = false;

  // Why the actor stopped (read by others once the mailbox is closed).
  std::string exit_what;
  // Asks failed by this stop, answered after the `down`s (fail_after_down).
  struct thrown_ask {
    reply_slot_base* slot;
    ask_error code;
    std::string what;
  };
  std::vector<thrown_ask> thrown;
};

/// The reply of an ask, travelling back to the asking actor's system lane.
template <class R>
struct reply_message {
  std::uint64_t request;
  result<R> value;
};

/// Completes request `id` of `self` with `r` (a `result<R>*`); counts a
/// late reply when the request is gone (timed out). The actor's turn.
void complete_ask(actor_cell& self, std::uint64_t id, void* r);

template <class R>
struct reply_ops {
  static void invoke(actor_cell& self, envelope* e) {
    std::unique_ptr<message_envelope<reply_message<R>>> me(static_cast<message_envelope<reply_message<R>>*>(e));
    complete_ask(self, me->value.request, &me->value.value);
  }
  static constexpr message_ops ops{&invoke, &destroy_envelope<reply_message<R>>, &typeid(reply_message<R>), nullptr};
};

/// Reply slot of an ask made by an actor: the reply becomes a system
/// message to the asker.
template <class R>
struct actor_reply_slot final : reply_slot<R>, pool::pooled {
  actor_reply_slot(cell_ptr a, std::uint64_t id) noexcept : asker(std::move(a)), request(id) {}
  void deliver(R&& v) noexcept override { send(result<R>(std::move(v))); }
  void fail(ask_error code, std::string msg) noexcept override { send(result<R>(failure{code, std::move(msg)})); }
  void send(result<R>&& r) noexcept {
    asker->enqueue_system(new message_envelope<reply_message<R>>(&reply_ops<R>::ops, reply_message<R>{request, std::move(r)}));
  }
  cell_ptr asker;
  std::uint64_t request;
};

/// The running actor's continuation for an operation that completes
/// elsewhere (a transport's connect or lookup): the returned function may
/// be called once, from any thread, and `on_done(result<R>)` then runs on
/// that actor's turn, as an ask's continuation does (none when the actor
/// stopped first). @note Only from an actor's own turn.
/// @throws std::logic_error outside an actor's turn (`what` names the call).
template <class R, class F>
std::function<void(result<R>)> continuation_here(F&& on_done, const char* what) {
  actor_cell* me = current_cell();
  if (me == nullptr) {
    throw std::logic_error(std::string("troupe: ") + what +
                           " with a continuation runs it on the calling actor: call it from a handler (outside "
                           "actors, use the form that returns a future)");
  }
  const std::uint64_t id = me->add_ask(std::make_unique<pending_ask<R, std::decay_t<F>>>(std::forward<F>(on_done)));
  auto slot = std::make_shared<actor_reply_slot<R>>(cell_ptr(me), id);
  return [slot](result<R> r) { slot->send(std::move(r)); };
}

} // namespace troupe::detail
