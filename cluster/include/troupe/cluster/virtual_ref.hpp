#pragma once
/// @file A handle to a virtual actor (cluster::get) or a singleton
/// (cluster::singleton): valid before the actor exists. The first message
/// activates the identity on the member that owns it; later messages go
/// straight to that activation. When it moves (its member died or left,
/// or it was passivated), the next message finds its new home.
///
/// Messages sent while the activation is not known are held, in order, on
/// the sending member (at most `max_held` per identity, see cluster::get; past
/// that `tell` says `full`), and sent once it is. When activation
/// fails (no member hosts the kind, etcd unreachable) they become dead
/// letters (drop_reason::not_activated) and asks fail with the reason:
/// nothing is dropped silently.

#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/ask_future.hpp"
#include "troupe/cluster/detail/identity_slot.hpp"

namespace troupe {

template <class A>
class virtual_ref {
 public:
  virtual_ref() = default;
  explicit virtual_ref(std::shared_ptr<cluster_detail::identity_slot> s) noexcept : s_(std::move(s)) {}

  [[nodiscard]] const std::string& kind() const { return s_->kind; }
  [[nodiscard]] const std::string& identity() const { return s_->identity; }
  explicit operator bool() const noexcept { return static_cast<bool>(s_); }

  /// Sends `msg` to the identity's activation (activating it first when
  /// needed). `ok` once it was sent or held; see the file's comment.
  /// @threadsafe
  template <class M>
  send_result tell(M msg) const {
    using D = std::remove_cvref_t<M>;
    static_assert(handles<A, D>, "troupe: the virtual actor's type has no handler for this message type.");
    if (!s_) return send_result::dead;
    if (detail::cell_ptr c = s_->current()) {
      const send_result r = actor_ref<A>::from_cell(c.get()).tell(D(msg));
      if (r != send_result::dead) return r;
      s_->invalidate(c.get());  // moved or passivated: find it again
    }
    return s_->hold([msg = std::move(msg)](const detail::cell_ptr& c, const failure* why) mutable {
      if (c) return actor_ref<A>::from_cell(c.get()).tell(D(msg)) != send_result::dead;
      (void)why;
      return true;  // counted by the slot
    });
  }

  /// Asks the identity's activation (activating it first when needed): its
  /// reply, or the failure (activation failed, timeout). From threads
  /// outside the actor system, as actor_ref::ask. @threadsafe
  template <class M, class Rep, class Period>
    requires handles<A, std::remove_cvref_t<M>>
  auto ask(M msg, std::chrono::duration<Rep, Period> timeout) const {
    using D = std::remove_cvref_t<M>;
    using R = reply_t<A, D>;
    const auto deadline = std::chrono::steady_clock::now() + detail::checked_timeout(timeout, "ask");
    auto state = std::make_shared<detail::ask_state<R>>();
    if (!s_) {
      state->set(result<R>(failure{ask_error::actor_stopped, "ask on an empty virtual_ref"}));
      return ask_future<R>(std::move(state), deadline, nullptr);  // settled: no deadline to keep
    }
    auto job = std::make_shared<cluster_detail::ask_job<A, D, R>>(state, D(std::move(msg)), s_);
    if (detail::cell_ptr c = s_->current()) {
      if (job->send(c, nullptr)) return ask_future<R>(std::move(state), deadline, &s_->timers);
      s_->invalidate(c.get());
    }
    if (s_->hold([job](const detail::cell_ptr& c, const failure* why) { return job->send(c, why); }) !=
        send_result::ok) {
      state->set(result<R>(failure{ask_error::mailbox_full, "too many messages held for this identity"}));
    }
    return ask_future<R>(std::move(state), deadline, &s_->timers);
  }

 private:
  std::shared_ptr<cluster_detail::identity_slot> s_;
};

} // namespace troupe
