#pragma once
/// @file Compile-time dispatch: which messages an actor handles, what it
/// replies, and the operations table `tell` stamps into each envelope.

#include <concepts>
#include <exception>
#include <type_traits>
#include <utility>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/envelope.hpp"

namespace troupe {

/// True when actor type A has a handler `on(M)` callable with an rvalue M.
template <class A, class M>
concept handles = requires(A& a, M&& m) { a.on(std::move(m)); };

/// The reply type of A's handler for M (void for fire-and-forget handlers).
template <class A, class M>
  requires handles<A, M>
using reply_t = std::remove_cvref_t<decltype(std::declval<A&>().on(std::declval<M&&>()))>;

namespace detail {

/// Operations for message type M sent to actor type A.
template <class A, class M>
struct user_ops {
  static void invoke(actor_cell& self, envelope* e) {
    auto* me = static_cast<message_envelope<M>*>(e);
    A& a = *static_cast<A*>(self.instance());
    using R = reply_t<A, M>;
    try {
      if constexpr (std::is_void_v<R>) {
        a.on(std::move(me->value));
      } else {
        R r = a.on(std::move(me->value));
        if (me->reply != nullptr) {
          static_cast<reply_slot<R>*>(me->reply)->deliver(std::move(r));
          delete me->reply;
          me->reply = nullptr;
        }
      }
    } catch (const std::exception& ex) {
      discard(e, ask_error::exception, ex.what());
      throw;
    } catch (...) {
      discard(e, ask_error::exception, "unknown exception");
      throw;
    }
    delete me;
  }
  static constexpr message_ops ops{&invoke, &destroy_envelope<M>, &typeid(M)};
};

/// A system envelope asking the actor to stop. @threadsafe to create.
envelope* make_stop_envelope(exit_reason why);

} // namespace detail
} // namespace troupe
