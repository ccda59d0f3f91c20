#pragma once
/// @file Not API: what a virtual_ref shares with the cluster. One slot per
/// (kind, identity) a member has handed out handles to: the activation's
/// handle once known, and the messages held until it is.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "troupe/actors/ask_future.hpp"
#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/send_result.hpp"

namespace troupe {
class node;
class peer;
}

namespace troupe::cluster_detail {

class router;

/// Makes a handle of the identity's actor type to actor `id` on `p`.
using resolve_fn = std::function<detail::cell_ptr(const peer& p, std::uint64_t id)>;

class identity_slot : public std::enable_shared_from_this<identity_slot> {
 public:
  /// A held send: called once with the activation (then it sends, and says
  /// whether the handle took it: false when it reported dead), or with
  /// nullptr and why there is none (then it counts a dead letter or fails
  /// its ask).
  using held_send = std::function<bool(const detail::cell_ptr& c, const failure* why)>;

  identity_slot(std::weak_ptr<router> r, std::string kind, std::string identity, resolve_fn resolve,
                std::size_t max_held, timer_service& timers);

  /// The activation's handle, or null while unknown. @threadsafe
  [[nodiscard]] detail::cell_ptr current() const;
  /// `seen` (the current handle) reported the actor dead: forget it, so the
  /// next send finds where the identity lives now. @threadsafe
  void invalidate(const detail::actor_cell* seen);
  /// Holds `send` until the activation is known (starting to find it):
  /// `ok`, or `full` (counted as a mailbox_full dead letter) when max_held are held already. @threadsafe
  send_result hold(held_send send);

  // The router's (any thread).
  void activated(detail::cell_ptr c);
  void failed(const failure& why);

  const std::string kind;
  const std::string identity;
  const resolve_fn resolve;
  /// The system's timers: an ask's future fails at its deadline through them.
  timer_service& timers;

 private:
  struct held {
    held_send send;
    int tries = 0;
  };
  void run(std::deque<held> batch, const detail::cell_ptr& c, const failure* why);

  std::weak_ptr<router> router_;
  const std::size_t max_held_;
  mutable std::mutex mx_;
  detail::cell_ptr cell_;
  std::deque<held> held_;
  bool resolving_ = false;
};

/// The reply slot of an ask through a virtual_ref. A failure reported
/// while the ask is being handed to a handle (see hand_over) means the
/// handle refused it unsent (its actor stopped, its node is down): the ask
/// is then sent to where the identity lives now instead of failing. A
/// failure after that (the actor got it, then its node went) fails the ask:
/// it may have been handled, and is not sent twice (at most once).
/// What hand_over and the reply slot share: the slot may be deleted (by
/// a failure on another thread) while hand_over still runs.
struct handoff {
  std::atomic<bool> handing{true};
  std::thread::id by = std::this_thread::get_id();
  bool refused = false;  // written by `by` only
};

template <class R>
struct guarded_reply final : detail::reply_slot<R> {
  explicit guarded_reply(std::shared_ptr<detail::ask_state<R>> s) noexcept : state(std::move(s)) {}
  void deliver(R&& v) noexcept override { state->set(result<R>(std::move(v))); }
  void fail(ask_error code, std::string msg) noexcept override {
    if (h && h->handing.load(std::memory_order_acquire) && std::this_thread::get_id() == h->by) {
      h->refused = true;  // inside hand_over's enqueue: refused unsent
      return;
    }
    // actor_stopped: the receiver never handled it (it stopped with the
    // message queued, or its node no longer has it): send it where the
    // identity lives now. Anything else (node_down, timeout) may have been
    // handled: the ask fails.
    if (code == ask_error::actor_stopped && again) {
      try {
        if (again()) return;
      } catch (...) {
        // No memory to hold it again: fail the ask below.
      }
    }
    state->set(result<R>(failure{code, std::move(msg)}));
  }
  std::shared_ptr<detail::ask_state<R>> state;
  std::shared_ptr<handoff> h;
  std::function<bool()> again;  // holds the ask again; false when it may not
};

/// Hands `e` (its reply slot a fresh guarded_reply) to `c`: false when `c`
/// refused it unsent, synchronously inside enqueue (then `e` and its slot
/// are gone, and nothing was answered). A failure on another thread, or
/// after enqueue returned, is the ask's answer.
template <class R>
bool hand_over(const detail::cell_ptr& c, detail::envelope* e, guarded_reply<R>* slot) {
  auto h = std::make_shared<handoff>();
  slot->h = h;
  e->reply = slot;
  c->enqueue(e);
  h->handing.store(false, std::memory_order_release);
  return !h->refused;
}

/// One ask through a virtual_ref: sent to the activation, and again to
/// where the identity lives now when refused unsent (at most max_sends times).
template <class A, class D, class R>
struct ask_job : std::enable_shared_from_this<ask_job<A, D, R>> {
  static constexpr int max_sends = 4;
  ask_job(std::shared_ptr<detail::ask_state<R>> st, D m, std::weak_ptr<identity_slot> sl)
      : state(std::move(st)), msg(std::move(m)), slot(std::move(sl)) {}

  /// A held send (identity_slot::held_send).
  bool send(const detail::cell_ptr& c, const failure* why) {
    if (!c) {
      state->set(result<R>(*why));
      return true;
    }
    ++sends;
    auto* reply = new guarded_reply<R>(state);
    reply->again = [job = this->shared_from_this(), seen = c.get()] { return job->hold_again(seen); };
    auto* e = new detail::message_envelope<D>(&detail::user_ops<A, D>::ops, D(msg));
    return hand_over<R>(c, e, reply);  // false: refused unsent; the slot holds it again
  }
  /// Refused after it was sent: hold it again (true), unless sent too often.
  bool hold_again(const detail::actor_cell* seen) {
    auto s = slot.lock();
    if (!s || sends >= max_sends) return false;
    s->invalidate(seen);
    return s->hold([job = this->shared_from_this()](const detail::cell_ptr& c, const failure* why) {
             return job->send(c, why);
           }) == send_result::ok;
  }

  std::shared_ptr<detail::ask_state<R>> state;
  D msg;
  std::weak_ptr<identity_slot> slot;
  std::atomic<int> sends{0};
};

} // namespace troupe::cluster_detail
