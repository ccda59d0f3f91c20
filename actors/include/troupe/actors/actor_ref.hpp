#pragma once
/// @file Typed handle to an actor: `tell` and `ask`, checked at compile time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "troupe/actors/ask_future.hpp"
#include "troupe/actors/detail/timeouts.hpp"
#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/detail/handle_base.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/detail/wire_envelope.hpp"
#include "troupe/actors/sendable.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/scheduler/timer_service.hpp"

namespace troupe {

class shared_bytes;  // sent as it is, never encoded by `tell` (see below)


namespace detail {
/// The send of `tell` to an actor on another node (a remote proxy `c`):
/// encoded here, so the message is freed where it was made; a type that
/// cannot go there is refused now.
template <class A, class D, class M>
send_result tell_remote(actor_cell* c, M&& msg) {
  if constexpr (!crosses_to<A, D>()) {
    return c->refuse_unserializable(typeid(D));
  } else {
    if constexpr (!std::is_same_v<D, shared_bytes>) {
      if (envelope* e = encode_for_send<A, D>(msg)) return c->enqueue(e);
    }
    return c->enqueue(new message_envelope<D>(&user_ops<A, D>::ops, std::forward<M>(msg)));
  }
}

/// An ask from a thread outside the system, to cell `c` (may be null)
/// through `ops`; the reply comes in the returned future.
template <class R, class D, class M>
ask_future<R> ask_from_outside(actor_cell* c, const message_ops* ops, M&& msg, std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto state = std::make_shared<ask_state<R>>();
  auto* e = new message_envelope<D>(ops, std::forward<M>(msg));
  e->reply = new future_reply_slot<R>(state);
  if (c != nullptr) {
    c->enqueue(e);
  } else {
    discard(e, ask_error::actor_stopped, "ask on an empty handle");
  }
  return ask_future<R>(std::move(state), deadline, c != nullptr ? &c->timers() : nullptr);
}
} // namespace detail

/// A handle to an actor of type A. A value: cheap to copy (one reference
/// count), safe to share between threads and to send in messages.
/// A default-constructed handle refers to no actor.
///
/// Handles must not be used after their actor_system is destroyed.
template <class A>
class actor_ref : public detail::handle_base {
 public:
  actor_ref() noexcept = default;

  /// Sends `msg` (fire and forget). The message is moved into one envelope
  /// and queued with one atomic exchange. To an actor on another node it is
  /// encoded here instead, on the sender's thread, into that envelope.
  ///
  /// Compile-time checks: A must have a handler `on(M)`, and M must be
  /// sendable (own its data). If A's mailbox is full the receiver's policy
  /// decides; see `send_result`. From a thread outside the actor system a
  /// send to a full mute_sender mailbox blocks until it drains.
  /// @threadsafe
  template <class M>
  send_result tell(M&& msg) const {
    using D = std::remove_cvref_t<M>;
    detail::check_sendable<D>();
    static_assert(handles<A, D>,
                  "troupe: this actor has no handler for the message type. Add a member `void on(M)` "
                  "(or `R on(M)` to answer asks) to the actor class, or send a type it handles.");
    if constexpr (handles<A, D> && is_sendable_v<D>) {
      if (!cell_) return send_result::dead;
      if (cell_->encodes_on_send()) [[unlikely]] return detail::tell_remote<A, D>(cell_.get(), std::forward<M>(msg));
      return cell_->enqueue(new detail::message_envelope<D>(&detail::user_ops<A, D>::ops, std::forward<M>(msg)));
    } else {
      return send_result::dead;
    }
  }

  /// Sends `msg` and returns the future reply: the value the handler
  /// returns. For threads outside the system; inside an actor use
  /// `actor::ask` with a continuation instead, which never blocks a worker.
  /// @throws std::invalid_argument for a negative timeout. @threadsafe
  template <class M, class Rep, class Period>
    requires handles<A, std::remove_cvref_t<M>>
  auto ask(M&& msg, std::chrono::duration<Rep, Period> timeout) const {
    using D = std::remove_cvref_t<M>;
    detail::check_sendable<D>();
    using R = reply_t<A, D>;
    static_assert(!std::is_void_v<R>,
                  "troupe: ask needs a handler that returns its reply (`R on(M)`); use tell for void handlers.");
    return detail::ask_from_outside<R, D>(cell_.get(), &detail::user_ops<A, D>::ops, std::forward<M>(msg),
                                          detail::checked_timeout(timeout, "ask"));
  }

  /// Stops the actor without running its stop hook (reason killed). @threadsafe
  void kill() const {
    if (cell_) cell_->enqueue_system(detail::make_stop_envelope(exit_reason::killed));
  }

  /// Messages not yet finished: queued plus those taken in the current turn (a snapshot). @threadsafe
  [[nodiscard]] std::uint64_t mailbox_depth() const noexcept { return cell_ ? cell_->box().depth() : 0; }

  friend bool operator==(const actor_ref& a, const actor_ref& b) noexcept { return a.cell_ == b.cell_; }

  /// For the runtime: shares `c` (adds a reference).
  static actor_ref from_cell(detail::actor_cell* c) noexcept { return actor_ref(c); }

 private:
  explicit actor_ref(detail::actor_cell* c) noexcept : handle_base(c) {}
};

} // namespace troupe

template <class A>
struct std::hash<troupe::actor_ref<A>> {
  std::size_t operator()(const troupe::actor_ref<A>& r) const noexcept {
    return std::hash<const void*>{}(r.cell());
  }
};
