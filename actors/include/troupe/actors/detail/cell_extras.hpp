#pragma once
/// @file Rarely used per-actor state, allocated on first use so an idle
/// actor stays small: pending asks made by the actor, and its timers.

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/scheduler/timer_service.hpp"

namespace troupe::detail {

/// A continuation waiting for the reply of an ask made by an actor.
struct pending_ask_base {
  virtual ~pending_ask_base() = default;
  /// Runs the continuation with a `result<R>*` (type known to the subclass).
  virtual void complete(void* result) = 0;
  timer_handle timeout;
};

template <class R, class F>
struct pending_ask final : pending_ask_base {
  explicit pending_ask(F f) : fn(std::move(f)) {}
  void complete(void* r) override { fn(std::move(*static_cast<result<R>*>(r))); }
  F fn;
};

struct cell_extras {
  std::unordered_map<std::uint64_t, std::unique_ptr<pending_ask_base>> asks;
  std::uint64_t next_request = 1;
  std::vector<timer_handle> timers;  ///< cancelled when the actor stops
};

/// The reply of an ask, travelling back to the asking actor's system lane.
template <class R>
struct reply_message {
  std::uint64_t request;
  result<R> value;
};

/// Completes request `id` of `self` with `r` (a `result<R>*`); counts a
/// late reply when the request is gone (timed out).
void complete_ask(actor_cell& self, std::uint64_t id, void* r);

template <class R>
struct reply_ops {
  static void invoke(actor_cell& self, envelope* e) {
    std::unique_ptr<message_envelope<reply_message<R>>> me(static_cast<message_envelope<reply_message<R>>*>(e));
    complete_ask(self, me->value.request, &me->value.value);
  }
  static constexpr message_ops ops{&invoke, &destroy_envelope<reply_message<R>>, &typeid(reply_message<R>)};
};

/// Reply slot of an ask made by an actor: the reply becomes a system
/// message to the asker.
template <class R>
struct actor_reply_slot final : reply_slot<R> {
  actor_reply_slot(cell_ptr a, std::uint64_t id) noexcept : asker(std::move(a)), request(id) {}
  void deliver(R&& v) noexcept override { send(result<R>(std::move(v))); }
  void fail(ask_error code, std::string msg) noexcept override { send(result<R>(failure{code, std::move(msg)})); }
  void send(result<R>&& r) noexcept {
    asker->enqueue_system(new message_envelope<reply_message<R>>(&reply_ops<R>::ops, reply_message<R>{request, std::move(r)}));
  }
  cell_ptr asker;
  std::uint64_t request;
};

} // namespace troupe::detail
