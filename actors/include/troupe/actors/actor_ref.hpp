#pragma once
/// @file Typed handle to an actor: `tell` and `ask`, checked at compile time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "troupe/actors/ask_future.hpp"
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
/// `d` in steady_clock units, at most `timer_service::longest` (longer ones,
/// `duration::max()` for "wait forever", are cut to that, so that
/// `now() + timeout` cannot overflow).
/// @throws std::invalid_argument if `d` is negative.
template <class Rep, class Period>
std::chrono::steady_clock::duration checked_timeout(std::chrono::duration<Rep, Period> d, const char* who) {
  if (d < std::chrono::duration<Rep, Period>::zero()) {
    throw std::invalid_argument(std::string(who) + ": timeout must not be negative");
  }
  // Compared in floating point: casting `d` (or the limit) to the other's
  // units could overflow either way.
  constexpr auto longest = timer_service::longest;
  if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(longest)) return longest;
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
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
      if (cell_->encodes_on_send()) [[unlikely]] {
        // To another process: encode here, so the message is freed where it
        // was made; a type that cannot go there is refused now.
        if constexpr (!detail::crosses_to<A, D>()) {
          return cell_->refuse_unserializable(typeid(D));
        } else if constexpr (!std::is_same_v<D, shared_bytes>) {
          if (detail::envelope* e = detail::encode_for_send<A, D>(msg)) return cell_->enqueue(e);
        }
      }
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
    const auto deadline = std::chrono::steady_clock::now() + detail::checked_timeout(timeout, "ask");
    auto state = std::make_shared<detail::ask_state<R>>();
    auto* e = new detail::message_envelope<D>(&detail::user_ops<A, D>::ops, std::forward<M>(msg));
    e->reply = new detail::future_reply_slot<R>(state);
    if (cell_) {
      cell_->enqueue(e);
    } else {
      detail::discard(e, ask_error::actor_stopped, "ask on an empty actor_ref");
    }
    return ask_future<R>(std::move(state), deadline);
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
