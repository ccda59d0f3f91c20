#include "troupe/actors/detail/remote_proxy.hpp"

#include <algorithm>
#include <thread>

#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/actors/signals.hpp"
#include "system_messages.hpp"

namespace troupe::detail {

namespace {
// A `down` for the peer's monitor of a local actor comes back to the proxy
// that asked for it (the outbox) and leaves as a down signal.
void invoke_peer_down(actor_cell&, envelope* e) { delete static_cast<message_envelope<down>*>(e); }
constexpr message_ops peer_down_ops{&invoke_peer_down, &destroy_envelope<down>, &typeid(down), nullptr};

/// What the remote side (or the transport) did, queued on a proxy's system lane.
struct peer_event {
  enum class kind : unsigned char { down, link, unlink, exit, node_down, rebind, gone } what_kind;
  std::uint64_t id = 0;  // the monitor ref (down) or the local actor's id (unlink, exit)
  exit_reason why = exit_reason::normal;
  std::string what{};
  cell_ptr local{};  // link
  const proxy_link* of = nullptr;      // node_down: the session that ended (nullptr: any)
  bool for_good = false;               // node_down: the proxy closes
  std::shared_ptr<proxy_link> link{};  // rebind: the session that serves from now on
};
void invoke_peer_event(actor_cell&, envelope* e) { delete static_cast<message_envelope<peer_event>*>(e); }
constexpr message_ops peer_event_ops{&invoke_peer_event, &destroy_envelope<peer_event>, &typeid(peer_event), nullptr};

envelope* make_event(peer_event ev) { return new message_envelope<peer_event>(&peer_event_ops, std::move(ev)); }

// Messages handed to the link in one turn: one batch, one write.
constexpr std::size_t proxy_quantum = 4096;

template <class M>
std::unique_ptr<message_envelope<M>> own(envelope* e) {
  return std::unique_ptr<message_envelope<M>>(static_cast<message_envelope<M>*>(e));
}
} // namespace

remote_proxy::remote_proxy(system_core* sys, const mailbox_options& opts, std::shared_ptr<proxy_link> link,
                           std::uint64_t remote_id, const std::type_info& type)
    : actor_cell(sys, opts), link_(std::move(link)), remote_id_(remote_id), type_(&type) {
  set_id(remote_id);
  set_executor(this);
  set_encodes_on_send();
}

remote_proxy::~remote_proxy() { link_->forget(*this); }

void remote_proxy::notify() noexcept {
  add_ref();  // released when a turn ends idle
  actor_cell::system().pool().schedule(this);
}

void remote_proxy::notify_hot() noexcept {
  add_ref();
  actor_cell::system().pool().schedule_hot(this);
}

remote_proxy::result remote_proxy::resume() {
  turn t = start_turn();
  if (detached_) return detached_turn(t);
  troupe::mailbox& box = own_box();
  bool stalled = false;
  link_->begin_turn(*this);
  // A down or a rebind ends the turn on this link at once.
  for (std::size_t n = 0; n < proxy_quantum && !down_ && !next_link_; ++n) {
    if (auto* s = static_cast<envelope*>(box.pop_system())) {
      ++t.system;
      on_system(s);
      continue;
    }
    if ((stalled = !link_->ready(*this))) break;
    auto* e = static_cast<envelope*>(box.pop());
    if (e == nullptr) break;
    ++t.user;
    forward_guarded(e);
  }
  link_->end_turn(*this);
  if (next_link_) {
    link_ = std::move(next_link_);  // the same session, or one that followed: it serves from the next turn
    return end_turn(t);
  }
  if (down_) return after_down(t);
  // The link takes nothing more now (a congested connection, or no credit
  // left): wait for it, holding a token. Senders then schedule nothing, and
  // once this mailbox is full they are muted: backpressure from the socket,
  // or from the remote receiver's speed, to the senders.
  if (stalled && box.depth() > t.user) return park(t);  // user messages wait beyond this turn's
  return end_turn(t);
}

remote_proxy::result remote_proxy::end_turn(turn t) noexcept {
  const result r = finish_turn(t);
  if (r == result::idle) release();  // may free *this
  return r;
}

remote_proxy::result remote_proxy::after_down(turn t) noexcept {
  down_ = false;
  if (for_good_) {
    // Close first (close_and_drain, right after): queued monitor and link
    // requests then answer at once from the stop reason.
    set_stop_reason(down_why_);
    go_down();
    close_and_drain(t);
    release();  // closed: nothing schedules this proxy again
    return result::idle;
  }
  go_down();
  detached_ = true;
  {
    // Unless a rebind is on its way (it let senders in already).
    std::lock_guard lock(rebind_mx_);
    if (rebinds_ == 0) own_box().refuse_all(true);
  }
  return end_turn(t);  // runs again while messages wait: detached turns take them
}

remote_proxy::result remote_proxy::detached_turn(turn t) noexcept {
  troupe::mailbox& box = own_box();
  for (std::size_t n = 0; n < proxy_quantum && detached_ && !down_; ++n) {
    if (auto* s = static_cast<envelope*>(box.pop_system())) {
      ++t.system;
      on_detached_system(s);
      continue;
    }
    auto* e = static_cast<envelope*>(box.pop());
    if (e == nullptr) break;
    ++t.user;
    if (await_rebind(t)) {
      // Sent after the rebind let it in: the new session takes it, first.
      link_->begin_turn(*this);
      forward_guarded(e);
      link_->end_turn(*this);
      break;
    }
    actor_cell::system().count_drop(drop_reason::node_down, *e->ops->type);
    discard(e, ask_error::node_down, down_what_.c_str());
  }
  if (down_) return after_down(t);  // closed for good
  return end_turn(t);
}

bool remote_proxy::await_rebind(turn& t) {
  {
    std::lock_guard lock(rebind_mx_);
    if (rebinds_ == 0) return false;
  }
  // rebind() counted itself before it let senders in, and queues its event
  // right after: serve the system lane until that event has been taken.
  troupe::mailbox& box = own_box();
  while (detached_ && !down_) {
    if (auto* s = static_cast<envelope*>(box.pop_system())) {
      ++t.system;
      on_detached_system(s);
    } else {
      std::this_thread::yield();  // the event is being queued
    }
  }
  return !detached_;
}

void remote_proxy::on_detached_system(envelope* e) {
  if (e->ops == &peer_event_ops) {
    on_event(e);
    if (next_link_) {
      link_ = std::move(next_link_);
      detached_ = false;
    }
    return;
  }
  if (e->ops == &peer_down_ops) {
    delete static_cast<message_envelope<down>*>(e);  // the peer that watched is gone with its session
    return;
  }
  switch (kind_of(e)) {
    case system_kind::monitor: {
      auto me = own<monitor_request>(e);
      send_down_to(*me->value.watcher, me->value.down_ops, me->value.id, exit_reason::node_down, down_what_);
      return;
    }
    case system_kind::link:
      send_exit(*own<link_request>(e)->value.from, *this, exit_reason::node_down, down_what_);
      return;
    default:
      on_system(e);  // stop, demonitor, unlink, exit: nothing reaches the ended link (or is left to undo)
      return;
  }
}

remote_proxy::result remote_proxy::park(turn t) noexcept {
  const result r = park_until(t, [&] {
    try {
      return link_->park(*this);
    } catch (...) {
      return false;  // could not register: go on at once
    }
  });
  // Parked: the link (or whoever unparks us, a system message) holds or
  // takes its own reference.
  if (r == result::idle) release();
  return r;
}

void remote_proxy::forward_guarded(envelope* e) noexcept {
  try {
    link_->forward(*this, e);
  } catch (const std::exception&) {
    // The link could not take it (out of memory): a dead letter, not a crash.
    actor_cell::system().count_drop(drop_reason::node_down, *e->ops->type);
    discard(e, ask_error::node_down, "could not queue the message for the network");
  }
}

void remote_proxy::on_system(envelope* e) {
  if (e->ops == &peer_event_ops) return on_event(e);
  if (e->ops == &peer_down_ops) {
    auto me = own<down>(e);
    link_->signal(*this, {control_signal::kind::down, me->value.actor.id(), me->value.monitor, me->value.reason,
                          me->value.what});
    return;
  }
  switch (kind_of(e)) {
    case system_kind::stop:
      link_->signal(*this, {control_signal::kind::stop, 0, 0, own<exit_reason>(e)->value});
      return;
    case system_kind::monitor: {
      auto me = own<monitor_request>(e);
      const std::uint64_t ref = next_ref_++;
      watches_.emplace(ref, remote_watch{std::move(me->value.watcher), me->value.id, me->value.down_ops});
      link_->signal(*this, {control_signal::kind::monitor, 0, ref});
      return;
    }
    case system_kind::demonitor: {
      auto me = own<demonitor_request>(e);
      for (auto it = watches_.begin(); it != watches_.end(); ++it) {
        if (it->second.watcher.get() == me->value.watcher && it->second.id == me->value.id) {
          link_->signal(*this, {control_signal::kind::demonitor, 0, it->first});
          watches_.erase(it);
          break;
        }
      }
      return;
    }
    case system_kind::link: {
      auto me = own<link_request>(e);
      if (std::find(links_.begin(), links_.end(), me->value.from) != links_.end()) return;
      link_->signal(*this, {control_signal::kind::link, me->value.from->id()});
      links_.push_back(std::move(me->value.from));
      return;
    }
    case system_kind::unlink: {
      auto me = own<unlink_request>(e);
      const auto n = std::erase_if(links_, [&](const cell_ptr& c) { return c.get() == me->value.from; });
      if (n != 0) link_->signal(*this, {control_signal::kind::unlink, me->value.from->id()});
      return;
    }
    case system_kind::exit: {
      auto me = own<exit_msg>(e);
      // A local actor linked to the remote one stopped.
      const auto n = std::erase_if(links_, [&](const cell_ptr& c) { return c.get() == me->value.from.cell(); });
      if (n != 0) {
        link_->signal(*this,
                      {control_signal::kind::exit, me->value.from.id(), 0, me->value.reason, me->value.what});
      }
      return;
    }
    default:
      discard(e, ask_error::actor_stopped, "not supported on a remote actor");
      return;
  }
}

void remote_proxy::on_event(envelope* e) {
  auto me = own<peer_event>(e);
  peer_event& ev = me->value;
  switch (ev.what_kind) {
    case peer_event::kind::down: {
      auto it = watches_.find(ev.id);
      if (it == watches_.end()) return;  // demonitored meanwhile
      remote_watch w = std::move(it->second);
      watches_.erase(it);
      send_down_to(*w.watcher, w.down_ops, w.id, ev.why, ev.what);
      return;
    }
    case peer_event::kind::link:
      if (detached_) {
        send_exit(*ev.local, *this, exit_reason::node_down, down_what_);  // its session ended meanwhile
      } else if (std::find(links_.begin(), links_.end(), ev.local) == links_.end()) {
        links_.push_back(std::move(ev.local));
      }
      return;
    case peer_event::kind::unlink:
      std::erase_if(links_, [&](const cell_ptr& c) { return c->id() == ev.id; });
      return;
    case peer_event::kind::exit: {
      auto it = std::find_if(links_.begin(), links_.end(), [&](const cell_ptr& c) { return c->id() == ev.id; });
      if (it == links_.end()) return;  // unlinked meanwhile
      cell_ptr l = std::move(*it);
      links_.erase(it);
      send_exit(*l, *this, ev.why, ev.what);
      return;
    }
    case peer_event::kind::node_down:
      // A session this proxy no longer uses, or a down it is in already.
      if (!ev.for_good && ((ev.of != nullptr && ev.of != link_.get()) || detached_)) return;
      down_ = true;
      for_good_ = for_good_ || ev.for_good;
      down_what_ = std::move(ev.what);
      return;
    case peer_event::kind::gone:
      // The actor is gone on its node: closed for good, with its reason.
      if (for_good_) return;
      down_ = for_good_ = true;
      down_why_ = ev.why;
      down_what_ = std::move(ev.what);
      return;
    case peer_event::kind::rebind: {
      std::lock_guard lock(rebind_mx_);
      --rebinds_;
      next_link_ = std::move(ev.link);
      return;
    }
  }
}

void remote_proxy::post_event(envelope* e) noexcept {
  enqueue_system(e);  // wakes a parked proxy too (enqueue_system unparks)
}

void remote_proxy::remote_down(std::uint64_t ref, exit_reason why, const std::string& what) {
  post_event(make_event({ref == 0 ? peer_event::kind::gone : peer_event::kind::down, ref, why, what, {}}));
}

void remote_proxy::remote_exit(std::uint64_t local, exit_reason why, const std::string& what) {
  post_event(make_event({peer_event::kind::exit, local, why, what, {}}));
}

void remote_proxy::link_local(actor_cell& local) {
  post_event(make_event({peer_event::kind::link, 0, exit_reason::normal, {}, cell_ptr(&local)}));
  local.enqueue_system(make_link_envelope(link_request{cell_ptr(this)}));
}

void remote_proxy::unlink_local(actor_cell& local) {
  post_event(make_event({peer_event::kind::unlink, local.id(), exit_reason::normal, {}, {}}));
  local.enqueue_system(make_unlink_envelope(unlink_request{this}));
}

void remote_proxy::monitor_local(actor_cell& local, std::uint64_t ref) {
  local.enqueue_system(make_monitor_envelope(monitor_request{cell_ptr(this), ref, &peer_down_ops}));
}

void remote_proxy::demonitor_local(actor_cell& local, std::uint64_t ref) {
  local.enqueue_system(make_demonitor_envelope(demonitor_request{this, ref}));
}

void remote_proxy::demonitor_all_local(actor_cell& local) {
  local.enqueue_system(make_demonitor_envelope(demonitor_request{this, demonitor_request::every}));
}

void remote_proxy::node_down(std::string what, const proxy_link* of, bool for_good) noexcept {
  try {
    peer_event ev{peer_event::kind::node_down, 0, exit_reason::node_down, std::move(what), {}};
    ev.of = of;
    ev.for_good = for_good;
    post_event(make_event(std::move(ev)));
  } catch (...) {
  }
}

void remote_proxy::rebind(std::shared_ptr<proxy_link> link) {
  peer_event ev{peer_event::kind::rebind};
  ev.link = std::move(link);
  envelope* e = make_event(std::move(ev));
  {
    // Counted before senders are let in: a detached turn that finds one of
    // their messages waits for this event instead of refusing it.
    std::lock_guard lock(rebind_mx_);
    ++rebinds_;
    own_box().refuse_all(false);
  }
  post_event(e);
}

bool remote_proxy::take_refused(envelope* e, send_result& out) noexcept {
  // A proxy's bound is the hard limit (mute_sender): a refusal short of it
  // is refuse_all, set while detached. (One refused just as a rebind let
  // senders in came before that rebind: its node was down.)
  if (box().depth() >= mailbox::hard_limit) return false;
  actor_cell::system().count_drop(drop_reason::node_down, *e->ops->type);
  discard(e, ask_error::node_down, "the receiver's node is down");
  out = send_result::dead;
  return true;
}

void remote_proxy::send_down_to(actor_cell& watcher, const message_ops* down_ops, std::uint64_t id, exit_reason why,
                                const std::string& what) {
  watcher.enqueue_system(new message_envelope<down>(down_ops, down{any_ref::from_cell(this), why, what, id}));
}

void remote_proxy::go_down() {
  auto watches = std::move(watches_);
  watches_.clear();
  for (auto& [ref, w] : watches) {
    try {
      send_down_to(*w.watcher, w.down_ops, w.id, down_why_, down_what_);
    } catch (...) {
    }
  }
  auto links = std::move(links_);
  links_.clear();
  for (const cell_ptr& l : links) send_exit(*l, *this, down_why_, down_what_);
}

} // namespace troupe::detail
