#include "troupe/actors/remote.hpp"

#include <algorithm>

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
constexpr detail::message_ops remote_down_ops_v{&invoke_remote_down, &detail::destroy_envelope<down>, &typeid(down),
                                                nullptr};

// Turns handed to the port in one go before it may write (and others run).
constexpr std::size_t proxy_quantum = 4096;
} // namespace

envelope* make_raw_frame(std::string frame) { return new message_envelope<std::string>(&raw_frame_ops, std::move(frame)); }

envelope* make_remote_monitor(const detail::cell_ptr& watcher, std::uint64_t ref) {
  return detail::make_monitor_envelope(detail::monitor_request{watcher, ref, &remote_down_ops_v});
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

proxy::proxy(detail::system_core* sys, const mailbox_options& opts, std::shared_ptr<port> p, std::uint64_t remote_id,
             const std::type_info& type)
    : actor_cell(sys, opts), port_(std::move(p)), remote_id_(remote_id), type_(&type) {
  set_executor(this);
  set_id(remote_id);
}

proxy::~proxy() { port_->forget(*this); }

void proxy::notify() noexcept { port_->schedule(*this); }

proxy::result proxy::resume() {
  if (down_) return result::idle;  // a run scheduled before the peer went down
  turn t;
  mailbox& box = own_box();
  for (std::size_t n = 0; n < proxy_quantum; ++n) {
    if (auto* s = static_cast<envelope*>(box.pop_system())) {
      ++t.system;
      forward_guarded(s, true);
      continue;
    }
    auto* e = static_cast<envelope*>(box.pop());
    if (e == nullptr) break;
    ++t.user;
    forward_guarded(e, false);
  }
  return finish_turn(t);
}

void proxy::forward_guarded(envelope* e, bool system) noexcept {
  try {
    forward(e, system);
  } catch (const std::exception& ex) {
    // The port could not take it (out of memory): a dead letter, not a crash.
    actor_cell::system().count_drop(drop_reason::node_down, *e->ops->type);
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
      detail::discard(e, ask_error::node_down,
                      "the message type cannot cross the network: make it a protobuf message or specialise "
                      "troupe::codec for it");
      return;
    }
    port_->send_message(remote_id_, e);
    return;
  }
  if (e->ops == &remote_down_ops_v) {
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

void proxy::remote_down(std::uint64_t ref, exit_reason why, const std::string& what) {
  auto it = watches_.find(ref);
  if (it == watches_.end()) return;  // demonitored meanwhile
  remote_watch w = std::move(it->second);
  watches_.erase(it);
  try {
    w.watcher->enqueue_system(
        new message_envelope<down>(w.down_ops, down{any_ref::from_cell(this), why, what, w.id}));
  } catch (...) {
  }
}

void proxy::remote_link(detail::actor_cell& local) {
  if (std::find_if(links_.begin(), links_.end(), [&](const detail::cell_ptr& c) { return c.get() == &local; }) ==
      links_.end()) {
    links_.emplace_back(&local);
  }
}

void proxy::remote_unlink(std::uint64_t local) {
  std::erase_if(links_, [&](const detail::cell_ptr& c) { return c->id() == local; });
}

void proxy::remote_exit(std::uint64_t local, exit_reason why, const std::string& what) {
  auto it = std::find_if(links_.begin(), links_.end(), [&](const detail::cell_ptr& c) { return c->id() == local; });
  if (it == links_.end()) return;  // unlinked meanwhile
  detail::cell_ptr l = std::move(*it);
  links_.erase(it);
  detail::send_exit(*l, *this, why, what);
}

void proxy::node_down() noexcept {
  if (down_) return;
  down_ = true;
  set_stop_reason(exit_reason::node_down);
  // Queued messages become dead letters; queued monitor and link requests
  // answer at once (down / exit with node_down, from the stop reason).
  close_and_drain(turn{}, drop_reason::node_down);
  auto watches = std::move(watches_);
  watches_.clear();
  for (auto& [ref, w] : watches) {
    try {
      w.watcher->enqueue_system(new message_envelope<down>(
          w.down_ops, down{any_ref::from_cell(this), exit_reason::node_down, "node down", w.id}));
    } catch (...) {
    }
  }
  auto links = std::move(links_);
  links_.clear();
  for (const detail::cell_ptr& l : links) detail::send_exit(*l, *this, exit_reason::node_down, "node down");
}

} // namespace troupe::remote
