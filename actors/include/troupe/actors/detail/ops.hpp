#pragma once
/// @file Compile-time dispatch: which messages an actor handles, what it
/// replies, and the operations table `tell` stamps into each envelope.

#include <concepts>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/signals.hpp"
#include "troupe/actors/envelope.hpp"
#include "troupe/actors/promise.hpp"
#include "troupe/actors/task.hpp"
#include "troupe/actors/wire.hpp"

namespace troupe {

/// True when actor type A has a handler `on(M)` callable with an rvalue M.
template <class A, class M>
concept handles = requires(A& a, M&& m) { a.on(std::move(m)); };

/// The reply type of A's handler for M (void for fire-and-forget handlers).
template <class A, class M>
  requires handles<A, M>
using handler_result_t = std::remove_cvref_t<decltype(std::declval<A&>().on(std::declval<M&&>()))>;

namespace detail {
template <class T>
struct reply_of {
  using type = T;
};
template <class R>
struct reply_of<promise<R>> {
  using type = R;
};
template <class R, reentrancy M>
struct reply_of<task<R, M>> {
  using type = R;
};

/// True when A's handler for M, returning H, takes M by value (a coroutine
/// handler must: its frame outlives the message).
template <class A, class M, class H>
concept takes_by_value = requires { static_cast<H (A::*)(M)>(&A::on); } ||
                         requires { static_cast<H (A::*)(M) const>(&A::on); };
} // namespace detail

/// The reply an asker of A with M gets: the handler's return type, or R for
/// a handler returning `promise<R>` (void for fire-and-forget handlers).
template <class A, class M>
  requires handles<A, M>
using reply_t = typename detail::reply_of<handler_result_t<A, M>>::type;

namespace detail {

/// Runs `f` (a handler call); on an exception hands the envelope to the
/// cell, which fails its ask after the `down`s, and rethrows (the actor
/// then stops).
template <class F>
void guarded(actor_cell& self, envelope* e, F&& f) {
  try {
    f();
  } catch (const std::exception& ex) {
    self.fail_after_down(e, ex.what());
    throw;
  } catch (...) {
    self.fail_after_down(e, "unknown exception");
    throw;
  }
}

/// True (and the envelope kept) when the handler just stashed the message.
inline bool stashed(actor_cell& self, envelope* e) noexcept {
  cell_extras* x = self.extras_if_any();
  if (x == nullptr || !x->stash_current) [[likely]] return false;
  self.stash_take(e);
  return true;
}

/// How message M for actor A (and the reply, for an ask) crosses the network.
template <class A, class M>
struct wire_ops_for {
  using R = reply_t<A, M>;
  static const std::string& name() { return wire_name<M>(); }
  static void encode(const envelope& e, std::string& out) {
    wire_encode(static_cast<const message_envelope<M>&>(e).value, out);
  }
  static bool deliver_reply(reply_slot_base& slot, std::string_view bytes) {
    if constexpr (wire_type<R>) {
      R value{};
      if (!wire_decode(bytes, value)) return false;
      static_cast<reply_slot<R>&>(slot).deliver(std::move(value));
      return true;
    } else {
      return false;
    }
  }
  static constexpr auto reply_fn() noexcept -> bool (*)(reply_slot_base&, std::string_view) {
    if constexpr (wire_type<R>) {
      return &deliver_reply;
    } else {
      return nullptr;
    }
  }
  static constexpr wire_ops ops{&name, &encode, reply_fn()};
};

/// How M crosses to an A elsewhere (another node, a spill file); nullptr
/// when it cannot: not a wire type, or not in A's remote_interface.
template <class A, class M>
constexpr const wire_ops* wire_of() noexcept {
  if constexpr (crosses_to<A, M>()) {
    return &wire_ops_for<A, M>::ops;
  } else {
    return nullptr;
  }
}

/// Operations for message type M sent to actor type A.
template <class A, class M>
struct user_ops {
  static void invoke(actor_cell& self, envelope* e) { run(self, e, static_cast<message_envelope<M>*>(e)->value); }

  /// Hands `value`, carried by `e`, to the handler, then frees `e` (unless
  /// the handler stashed it). `e` may be any envelope whose ops make `value`
  /// again on a replay (a decoded wire message is decoded again).
  static void run(actor_cell& self, envelope* e, M& value) {
    if (!self.alive()) [[unlikely]] {
      // Between incarnations (a supervised actor waiting for its restart):
      // nobody to hand it to.
      discard(e, ask_error::actor_stopped, "actor is between incarnations");
      return;
    }
    if (cell_extras* x = self.extras_if_any(); x != nullptr && !x->behaviors.empty()) [[unlikely]] {
      std::shared_ptr<const behavior> b = x->behaviors.back();  // alive even if the handler unbecomes
      if (const auto* h = b->find(typeid(M))) {
        guarded(self, e, [&] { (*h)(&value); });
        if (stashed(self, e)) return;
        discard(e, ask_error::exception, "handled by a behaviour, which does not reply");
        return;
      }
    }
    A& a = *static_cast<A*>(self.instance());
    using H = handler_result_t<A, M>;
    using R = reply_t<A, M>;
    if constexpr (is_task<H>::value) {
      return run_task(self, e, a, value);
    } else if constexpr (is_promise<H>::value) {
      return run_promise(self, e, a, value);
    } else if constexpr (std::is_void_v<R>) {
      guarded(self, e, [&] { a.on(std::move(value)); });
      if (stashed(self, e)) return;
    } else {
      std::optional<R> r;
      guarded(self, e, [&] { r.emplace(a.on(std::move(value))); });
      if (stashed(self, e)) return;
      if (e->reply != nullptr) {
        static_cast<reply_slot<R>*>(e->reply)->deliver(std::move(*r));
        delete e->reply;
        e->reply = nullptr;
      }
    }
    e->ops->destroy(e);
  }
  /// A coroutine handler: the frame holds its own copy of the message, so
  /// the envelope goes now, and the ask's reply slot to the task (answered
  /// by its co_return).
  template <class H = handler_result_t<A, M>>
  static void run_task(actor_cell& self, envelope* e, A& a, M& value) {
    static_assert(takes_by_value<A, M, H>,
                  "troupe: a coroutine handler takes its message by value (`task<R> on(M m)`): a reference "
                  "would dangle once the handler waits");
    reply_slot_base* slot = std::exchange(e->reply, nullptr);
    std::optional<H> t;
    try {
      t.emplace(a.on(std::move(value)));
    } catch (...) {
      e->reply = slot;
      self.fail_after_down(e, "handler threw");
      throw;
    }
    e->ops->destroy(e);
    std::move(*t).start(self, slot);
  }

  /// A handler returning promise<R>: it takes the reply slot with
  /// make_promise() and answers later.
  template <class H = handler_result_t<A, M>>
  static void run_promise(actor_cell& self, envelope* e, A& a, M& value) {
    reply_slot_base*& pending = pending_reply();
    pending = std::exchange(e->reply, nullptr);
    try {
      H p = a.on(std::move(value));
      (void)p;  // settled (or dropped, which answers actor_stopped) by its copies
    } catch (...) {
      if (reply_slot_base* left = std::exchange(pending, nullptr)) e->reply = left;
      self.fail_after_down(e, "handler threw");
      throw;
    }
    // A slot the handler did not take goes back on its message: a stash
    // keeps it for the replay, where make_promise() can take it.
    if (reply_slot_base* left = std::exchange(pending, nullptr)) e->reply = left;
    if (stashed(self, e)) return;
    discard(e, ask_error::exception, "handler returned a promise it did not take with make_promise()");
  }

  /// An interface type has no handler bodies: only a remote actor can run.
  static void refuse(actor_cell&, envelope* e) {
    discard(e, ask_error::actor_stopped, "an interface handle reached a local cell");
  }
  static constexpr auto pick() noexcept -> void (*)(actor_cell&, envelope*) {
    if constexpr (interface_type<A>) {
      return &refuse;
    } else {
      return &invoke;
    }
  }
  static constexpr message_ops ops{pick(), &destroy_envelope<M>, &typeid(M), nullptr, wire_of<A, M>()};
};

/// Delivers `down` to a watcher of type W, unless it demonitored meanwhile.
template <class W>
struct down_ops {
  static void invoke(actor_cell& self, envelope* e) {
    auto* me = static_cast<message_envelope<down>*>(e);
    if (!self.take_monitor(me->value.monitor)) {
      delete me;
      return;
    }
    user_ops<W, down>::invoke(self, e);
  }
  static constexpr message_ops ops{&invoke, &destroy_envelope<down>, &typeid(down), nullptr};
};

/// A system envelope making a supervised child build a new incarnation.
envelope* make_restart_envelope();
/// A system envelope making a supervised child stop for good.
envelope* make_terminate_envelope(exit_reason why, std::string what);

} // namespace detail
} // namespace troupe
