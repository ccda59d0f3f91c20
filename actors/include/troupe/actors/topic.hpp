#pragma once
/// @file Publish/subscribe (the broadcast-channel pattern).
///
/// A `topic<M>` is a shared value: copies refer to the same subscriber
/// list. `publish` sends a copy of the message to every subscriber through
/// its own mailbox, so each subscriber's overflow policy applies to it
/// alone: a `drop_*` or `fail` subscriber never slows the others; a full
/// `mute_sender` subscriber mutes the publishing actor after this turn (the
/// publish itself still reaches everyone). A subscriber that has stopped is
/// removed at the next publish.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/any_ref.hpp"

namespace troupe {

/// A set of subscribers to messages of type M. All members are @threadsafe.
template <class M>
class topic {
  static_assert(std::is_copy_constructible_v<M>, "troupe: a topic sends copies: its message type must be copyable");

 public:
  topic() : state_(std::make_shared<state>()) {}

  /// Adds `r` (once; subscribing again is a no-op).
  template <class A>
  void subscribe(const actor_ref<A>& r) {
    static_assert(handles<A, M>, "troupe: the subscriber has no handler `void on(M)` for this topic's type");
    if (!r) return;
    std::lock_guard lock(state_->mx);
    auto next = std::make_shared<list>(*state_->subs);
    if (std::none_of(next->begin(), next->end(), [&](const sub& s) { return s.cell.get() == r.cell(); })) {
      next->push_back(sub{detail::cell_ptr(r.cell()), &detail::user_ops<A, M>::ops});
    }
    state_->subs = std::move(next);
  }

  /// Removes `r`; false when it was not subscribed.
  bool unsubscribe(const any_ref& r) {
    std::lock_guard lock(state_->mx);
    auto next = std::make_shared<list>(*state_->subs);
    const auto before = next->size();
    std::erase_if(*next, [&](const sub& s) { return s.cell.get() == r.cell(); });
    const bool removed = next->size() != before;
    state_->subs = std::move(next);
    return removed;
  }

  /// Sends a copy of `m` to every subscriber; returns how many accepted it
  /// (`ok` or `muted`). Refused and dropped copies are counted as dead
  /// letters by the receivers' policies; stopped subscribers are removed.
  std::size_t publish(const M& m) {
    std::shared_ptr<const list> subs;
    {
      std::lock_guard lock(state_->mx);
      subs = state_->subs;
    }
    std::size_t accepted_count = 0;
    bool saw_dead = false;
    for (const sub& s : *subs) {
      const send_result r = s.cell->enqueue(new detail::message_envelope<M>(s.ops, m));
      if (accepted(r)) ++accepted_count;
      saw_dead = saw_dead || r == send_result::dead;
    }
    if (saw_dead) prune();
    return accepted_count;
  }

  /// Subscribers now (a snapshot).
  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(state_->mx);
    return state_->subs->size();
  }

 private:
  struct sub {
    detail::cell_ptr cell;
    const detail::message_ops* ops;
  };
  using list = std::vector<sub>;
  struct state {
    mutable std::mutex mx;
    std::shared_ptr<const list> subs = std::make_shared<list>();  // copy-on-write
  };
  void prune() {
    std::lock_guard lock(state_->mx);
    auto next = std::make_shared<list>(*state_->subs);
    std::erase_if(*next, [](const sub& s) { return s.cell->box().is_closed(); });
    state_->subs = std::move(next);
  }
  std::shared_ptr<state> state_;
};

} // namespace troupe
