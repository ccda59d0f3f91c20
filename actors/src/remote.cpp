#include "troupe/actors/remote.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/actors/signals.hpp"
#include "system_messages.hpp"

namespace troupe::remote {

namespace {
using detail::envelope;
using detail::message_envelope;

void invoke_raw(detail::actor_cell&, envelope* e) { delete static_cast<message_envelope<std::string>*>(e); }
constexpr detail::message_ops raw_frame_ops{&invoke_raw, &detail::destroy_envelope<std::string>,
                                            &typeid(std::string), nullptr};

void invoke_remote_down(detail::actor_cell&, envelope* e) { delete static_cast<message_envelope<down>*>(e); }
constexpr detail::message_ops remote_down_ops{&invoke_remote_down, &detail::destroy_envelope<down>, &typeid(down),
                                              nullptr};

/// What the transport tells a proxy about its remote actor (system lane).
struct peer_event {
  enum class kind : unsigned char { down, link, unlink, exit, node_down, credit } what_kind;
  std::uint64_t id = 0;  // the monitor ref (down) or the local actor's id (unlink, exit)
  exit_reason why = exit_reason::normal;
  std::string what;
  detail::cell_ptr local;  // link
};
void invoke_peer_event(detail::actor_cell&, envelope* e) { delete static_cast<message_envelope<peer_event>*>(e); }
constexpr detail::message_ops peer_event_ops{&invoke_peer_event, &detail::destroy_envelope<peer_event>,
                                             &typeid(peer_event), nullptr};

// Messages handed to the port in one turn: one batch, one write.
constexpr std::size_t proxy_quantum = 4096;
} // namespace

envelope* make_raw_frame(std::string frame) { return new message_envelope<std::string>(&raw_frame_ops, std::move(frame)); }

envelope* make_remote_monitor(const detail::cell_ptr& watcher, std::uint64_t ref) {
  return detail::make_monitor_envelope(detail::monitor_request{watcher, ref, &remote_down_ops});
}
envelope* make_remote_demonitor(const detail::actor_cell* watcher, std::uint64_t ref) {
  return detail::make_demonitor_envelope(detail::demonitor_request{watcher, ref});
}
envelope* make_link_request(const detail::cell_ptr& peer_actor) {
  return detail::make_link_envelope(detail::link_request{peer_actor});
}
envelope* make_unlink_request(const detail::actor_cell* peer_actor) {
  return detail::make_unlink_envelope(detail::unlink_request{peer_actor});
}

// -- inbound ---------------------------------------------------------------------

wire_envelope* wire_envelope::make(const detail::message_ops* ops, std::string_view payload) {
  void* mem = detail::pool::allocate(sizeof(wire_envelope) + payload.size());
  auto* e = construct(mem, ops, static_cast<std::uint32_t>(payload.size()));
  std::memcpy(static_cast<void*>(e + 1), payload.data(), payload.size());
  return e;
}

void wire_envelope::destroy(envelope* e) noexcept {
  auto* w = static_cast<wire_envelope*>(e);
  const std::size_t n = sizeof(wire_envelope) + w->size;
  if (credit_account* a = w->account) a->consumed_and_release(credit_cost(w->size));  // handled or dropped: the sender may send more
  w->~wire_envelope();
  detail::pool::deallocate(w, n);
}

void encoded_reached_local(detail::actor_cell&, envelope* e) {
  detail::discard(e, ask_error::actor_stopped, "a message encoded for another node reached a local actor");
}

void malformed_inbound(detail::actor_cell& self, envelope* e) noexcept {
  self.system().count_drop(drop_reason::malformed, *e->ops->type);
  detail::discard(e, ask_error::exception, "the message from the other node did not decode");
}

// -- proxy -------------------------------------------------------------------------

proxy::proxy(detail::system_core* sys, const mailbox_options& opts, std::shared_ptr<port> p, std::uint64_t remote_id,
             const std::type_info& type)
    : actor_cell(sys, opts), port_(std::move(p)), remote_id_(remote_id), type_(&type) {
  set_id(remote_id);
  set_executor(this);
  set_encodes_on_send();
}

void proxy::notify() noexcept {
  add_ref();  // released when a turn ends idle
  actor_cell::system().pool().schedule(this);
}

void proxy::notify_hot() noexcept {
  add_ref();
  actor_cell::system().pool().schedule_hot(this);
}

proxy::~proxy() { port_->forget(*this); }

proxy::result proxy::resume() {
  turn t;
  if (holding_) {
    t.user = 1;  // the token kept while parked is released with this turn
    holding_ = false;
  }
  troupe::mailbox& box = own_box();
  bool congested = false;
  bool no_credit = false;
  port_->begin_turn();
  for (std::size_t n = 0; n < proxy_quantum && !down_; ++n) {
    if (auto* s = static_cast<envelope*>(box.pop_system())) {
      ++t.system;
      if (s->ops == &peer_event_ops) {
        on_event(s);
      } else {
        forward_guarded(s, true);
      }
      continue;
    }
    if ((congested = port_->congested())) break;
    if ((no_credit = remote_id_ != 0 && credit_ <= 0)) break;
    auto* e = static_cast<envelope*>(box.pop());
    if (e == nullptr) {
      no_credit = false;
      break;
    }
    ++t.user;
    forward_guarded(e, false);
  }
  port_->end_turn();
  if (down_) {
    go_down();
    close_and_drain(t);  // node_down: go_down set the stop reason
    release();  // closed: nothing schedules this proxy again
    return result::idle;
  }
  if (congested) {
    // The connection cannot take more now: keep a token (senders then
    // schedule nothing; once this mailbox is full they are muted) and wait
    // for the port to drain. Backpressure from the socket to the senders.
    holding_ = true;
    (void)finish_and_wake(t, /*hold=*/true);
    if (!port_->wait_writable(*this)) return result::yield;  // drained meanwhile
    release();  // the port holds its own reference until it wakes us
    return result::idle;
  }
  if (no_credit && own_box().depth() > t.user) {  // messages wait beyond those of this turn
    // The receiver has all it may take from us: wait, holding a token, for
    // its credit (a peer event on the system lane). Backpressure across
    // the network: its handling speed mutes our senders.
    holding_ = true;
    (void)finish_and_wake(t, /*hold=*/true);
    waiting_credit_.store(true, std::memory_order_seq_cst);
    // Pairs with post_event: it pushes, then takes the flag; we set the
    // flag, then look for a push. One of us sees the other.
    if (own_box().system_waiting() && waiting_credit_.exchange(false)) return result::yield;
    release();  // whoever takes the flag schedules us (with a reference)
    return result::idle;
  }
  const result r = finish_turn(t);
  if (r == result::idle) release();  // may free *this
  return r;
}

void proxy::forward_guarded(envelope* e, bool system) noexcept {
  try {
    forward(e, system);
  } catch (const std::exception&) {
    // The port could not take it (out of memory): a dead letter, not a crash.
    actor_cell::system().count_drop(drop_reason::node_down, *e->ops->type);
    detail::discard(e, ask_error::node_down, "could not queue the message for the network");
  }
}

void proxy::forward(envelope* e, bool system) {
  if (e->ops == &raw_frame_ops) {
    std::unique_ptr<message_envelope<std::string>> me(static_cast<message_envelope<std::string>*>(e));
    port_->send_raw(std::move(me->value));
    return;
  }
  if (!system) {
    if (e->ops->wire == nullptr) {
      actor_cell::system().count_drop(drop_reason::not_serializable, *e->ops->type);
      detail::discard(e, ask_error::exception,
                      "the message type cannot cross the network: make it a protobuf message or specialise "
                      "troupe::codec for it");
      return;
    }
    credit_ -= port_->send_message(remote_id_, e);
    return;
  }
  if (e->ops == &remote_down_ops) {
    std::unique_ptr<message_envelope<down>> me(static_cast<message_envelope<down>*>(e));
    port_->send_down(me->value.actor.id(), me->value.monitor, me->value.reason, me->value.what);
    return;
  }
  switch (detail::kind_of(e)) {
    case detail::system_kind::stop: {
      std::unique_ptr<message_envelope<exit_reason>> me(static_cast<message_envelope<exit_reason>*>(e));
      port_->send_stop(remote_id_, me->value);
      return;
    }
    case detail::system_kind::monitor: {
      std::unique_ptr<message_envelope<detail::monitor_request>> me(
          static_cast<message_envelope<detail::monitor_request>*>(e));
      const std::uint64_t ref = next_ref_++;
      watches_.emplace(ref, remote_watch{std::move(me->value.watcher), me->value.id, me->value.down_ops});
      port_->send_monitor(remote_id_, ref);
      return;
    }
    case detail::system_kind::demonitor: {
      std::unique_ptr<message_envelope<detail::demonitor_request>> me(
          static_cast<message_envelope<detail::demonitor_request>*>(e));
      for (auto it = watches_.begin(); it != watches_.end(); ++it) {
        if (it->second.watcher.get() == me->value.watcher && it->second.id == me->value.id) {
          port_->send_demonitor(remote_id_, it->first);
          watches_.erase(it);
          break;
        }
      }
      return;
    }
    case detail::system_kind::link: {
      std::unique_ptr<message_envelope<detail::link_request>> me(
          static_cast<message_envelope<detail::link_request>*>(e));
      if (std::find(links_.begin(), links_.end(), me->value.from) == links_.end()) {
        port_->send_link(remote_id_, me->value.from->id());
        links_.push_back(std::move(me->value.from));
      }
      return;
    }
    case detail::system_kind::unlink: {
      std::unique_ptr<message_envelope<detail::unlink_request>> me(
          static_cast<message_envelope<detail::unlink_request>*>(e));
      const auto n = std::erase_if(links_, [&](const detail::cell_ptr& c) { return c.get() == me->value.from; });
      if (n != 0) port_->send_unlink(remote_id_, me->value.from->id());
      return;
    }
    case detail::system_kind::exit: {
      std::unique_ptr<message_envelope<exit_msg>> me(static_cast<message_envelope<exit_msg>*>(e));
      // A local actor linked to the remote one stopped.
      const auto n = std::erase_if(links_, [&](const detail::cell_ptr& c) { return c.get() == me->value.from.cell(); });
      if (n != 0) port_->send_exit(remote_id_, me->value.from.id(), me->value.reason, me->value.what);
      return;
    }
    default:
      detail::discard(e, ask_error::actor_stopped, "not supported on a remote actor");
      return;
  }
}

void proxy::on_event(envelope* e) {
  std::unique_ptr<message_envelope<peer_event>> me(static_cast<message_envelope<peer_event>*>(e));
  peer_event& ev = me->value;
  switch (ev.what_kind) {
    case peer_event::kind::down: {
      auto it = watches_.find(ev.id);
      if (it == watches_.end()) return;  // demonitored meanwhile
      remote_watch w = std::move(it->second);
      watches_.erase(it);
      w.watcher->enqueue_system(new message_envelope<down>(w.down_ops, down{any_ref::from_cell(this), ev.why, ev.what, w.id}));
      return;
    }
    case peer_event::kind::link:
      if (std::find(links_.begin(), links_.end(), ev.local) == links_.end()) links_.push_back(std::move(ev.local));
      return;
    case peer_event::kind::unlink:
      std::erase_if(links_, [&](const detail::cell_ptr& c) { return c->id() == ev.id; });
      return;
    case peer_event::kind::exit: {
      auto it = std::find_if(links_.begin(), links_.end(), [&](const detail::cell_ptr& c) { return c->id() == ev.id; });
      if (it == links_.end()) return;  // unlinked meanwhile
      detail::cell_ptr l = std::move(*it);
      links_.erase(it);
      detail::send_exit(*l, *this, ev.why, ev.what);
      return;
    }
    case peer_event::kind::credit:
      credit_ += static_cast<std::int64_t>(ev.id);
      return;
    case peer_event::kind::node_down:
      down_ = true;
      down_what_ = std::move(ev.what);
      return;
  }
}

void proxy::post_event(envelope* e) noexcept {
  enqueue_system(e);
  // A proxy parked for credit holds its token: nothing else schedules it.
  if (waiting_credit_.load(std::memory_order_seq_cst) && waiting_credit_.exchange(false)) notify();
}

void proxy::remote_credit(std::int64_t messages) {
  if (messages <= 0) return;
  post_event(new message_envelope<peer_event>(
      &peer_event_ops, peer_event{peer_event::kind::credit, static_cast<std::uint64_t>(messages), exit_reason::normal, {}, {}}));
}

void proxy::remote_down(std::uint64_t ref, exit_reason why, const std::string& what) {
  post_event(new message_envelope<peer_event>(&peer_event_ops, peer_event{peer_event::kind::down, ref, why, what, {}}));
}

void proxy::remote_link(detail::actor_cell& local) {
  post_event(new message_envelope<peer_event>(
      &peer_event_ops, peer_event{peer_event::kind::link, 0, exit_reason::normal, {}, detail::cell_ptr(&local)}));
}

void proxy::remote_unlink(std::uint64_t local) {
  post_event(new message_envelope<peer_event>(&peer_event_ops,
                                              peer_event{peer_event::kind::unlink, local, exit_reason::normal, {}, {}}));
}

void proxy::remote_exit(std::uint64_t local, exit_reason why, const std::string& what) {
  post_event(new message_envelope<peer_event>(&peer_event_ops, peer_event{peer_event::kind::exit, local, why, what, {}}));
}

void proxy::node_down(std::string what) noexcept {
  try {
    post_event(new message_envelope<peer_event>(
        &peer_event_ops, peer_event{peer_event::kind::node_down, 0, exit_reason::node_down, std::move(what), {}}));
  } catch (...) {
  }
}

void proxy::go_down() {
  // Close first (close_and_drain, by the caller, right after): queued
  // monitor and link requests then answer at once from the stop reason.
  set_stop_reason(exit_reason::node_down);
  auto watches = std::move(watches_);
  watches_.clear();
  for (auto& [ref, w] : watches) {
    try {
      w.watcher->enqueue_system(new message_envelope<down>(
          w.down_ops, down{any_ref::from_cell(this), exit_reason::node_down, down_what_, w.id}));
    } catch (...) {
    }
  }
  auto links = std::move(links_);
  links_.clear();
  for (const detail::cell_ptr& l : links) detail::send_exit(*l, *this, exit_reason::node_down, down_what_);
}

} // namespace troupe::remote
