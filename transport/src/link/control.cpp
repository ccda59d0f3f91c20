// The control frames a connection takes from its peer: one handler per
// kind. All run on the reader; each returns false when it ends the
// connection (a bad frame).
#include "link/connection.hpp"
#include "node/node_impl.hpp"
#include "protocol/control_codec.hpp"

namespace troupe::transport {

namespace {
/// A FLOW_CREDIT no honest peer sends: more than any window.
constexpr std::uint64_t max_grant = std::uint64_t{1} << 32;
} // namespace

bool connection::on_control(const frame_view& f) {
  const std::string_view b = f.body;
  switch (static_cast<frame_kind>(f.kind)) {
    case frame_kind::reply: return on_reply(b);
    case frame_kind::lookup: return on_lookup(b);
    case frame_kind::lookup_reply: return on_lookup_reply(b);
    case frame_kind::stop: return on_stop(b);
    case frame_kind::monitor: return on_monitor(b, false);
    case frame_kind::demonitor: return on_monitor(b, true);
    case frame_kind::down: return on_down(b);
    case frame_kind::link: return on_link(b, false);
    case frame_kind::unlink: return on_link(b, true);
    case frame_kind::exit: return on_exit(b);
    case frame_kind::give_back: return on_return(b);
    case frame_kind::flow_credit: return on_credit(b);
    case frame_kind::goodbye: return on_goodbye(b);
    case frame_kind::heartbeat: return on_heartbeat_frame(b);
    case frame_kind::ack: return on_ack(b);
    case frame_kind::hello:
    case frame_kind::auth:
    case frame_kind::welcome:
    case frame_kind::refuse: return bad_frame("handshake frame after the handshake");
    default: return bad_frame("unknown frame kind " + std::to_string(f.kind));
  }
}

bool connection::on_reply(std::string_view body) {
  control::reply r;
  if (!control::parse_reply(body, r)) return bad_frame("malformed REPLY");
  auto a = requests_.take_ask(r.request);
  if (!a) return true;  // failed already (the connection's asks end with it)
  if (!r.ok) {
    a->slot->fail(r.error, r.message);
  } else if (!a->deliver(*a->slot, r.payload)) {
    a->slot->fail(ask_error::exception, "malformed reply from " + peer_name_);
  }
  delete a->slot;
  return true;
}

bool connection::on_lookup(std::string_view body) {
  control::lookup l;
  if (!control::parse_lookup(body, l)) return bad_frame("malformed LOOKUP");
  control::lookup_reply r;
  r.request = l.request;
  if (auto p = node_.directory.find(l.name)) {
    r.found = true;
    r.actor = p->cell->id();
    r.actor_type = p->type->name();
    for (const auto& [wire_name, d] : p->accepts) r.accepts.push_back(wire_name);
  }
  writer_.append([&](std::string& out) { control::append_lookup_reply(out, r); });
  return true;
}

bool connection::on_lookup_reply(std::string_view body) {
  control::lookup_reply r;
  if (!control::parse_lookup_reply(body, r)) return bad_frame("malformed LOOKUP_REPLY");
  requests_.answer_lookup(std::move(r));
  return true;
}

bool connection::on_stop(std::string_view body) {
  control::stop s;
  if (!control::parse_stop(body, s)) return bad_frame("malformed STOP");
  bool refused = false;
  if (detail::actor_cell* to = inbound_.exposed_cell(s.target, remote_control::stop, &refused)) {
    const exit_reason why = s.why == exit_reason::killed ? exit_reason::killed : exit_reason::stopped;
    to->enqueue_system(detail::make_stop_envelope(why));
  } else if (refused) {
    refuse_control("STOP of", s.target);
  }
  return true;
}

void connection::refuse_control(const char* what, std::uint64_t target) {
  node_.counters.add(counter::remote_control_refused);
  if (auto suffix = node_.log_limit.allow(log_limiter::remote_control_key)) {
    log().warn("troupe node {}: refused a {} actor {} from {}: its publication does not allow it (node::publish, "
               "troupe::remote_control){}",
               node_.opts.name, what, target, peer_name_, *suffix);
  }
}

bool connection::on_monitor(std::string_view body, bool demonitor) {
  control::monitor m;
  if (!control::parse_monitor(body, m)) return bad_frame(demonitor ? "malformed DEMONITOR" : "malformed MONITOR");
  detail::actor_cell* ex = inbound_.exposed_cell(m.target);
  detail::cell_ptr watcher = outbox();  // the down comes back through it
  auto& out = static_cast<detail::remote_proxy&>(*watcher);
  if (demonitor) {
    // Only what the peer holds reaches the actor.
    if (ex != nullptr && watches_.remove(m.target, m.ref)) out.demonitor_local(*ex, m.ref);
  } else if (ex != nullptr) {
    switch (watches_.add(m.target, m.ref)) {
      case peer_watches::added::yes: out.monitor_local(*ex, m.ref); break;
      case peer_watches::added::already: break;  // one entry per monitor: one DOWN
      case peer_watches::added::full:
        return bad_frame("MONITOR past max_peer_monitors (" + std::to_string(node_.opts.max_peer_monitors) +
                         " monitors held on this node's actors)");
    }
  } else {
    writer_.append([&](std::string& o) { control::append_down(o, {m.target, m.ref, exit_reason::stopped, "no such actor"}); });
  }
  return true;
}

bool connection::on_down(std::string_view body) {
  control::down d;
  if (!control::parse_down(body, d)) return bad_frame("malformed DOWN");
  if (auto p = proxies_->find(d.actor)) static_cast<detail::remote_proxy&>(*p).remote_down(d.ref, d.why, d.what);
  return true;
}

bool connection::on_link(std::string_view body, bool unlink) {
  control::link l;
  if (!control::parse_link(body, l)) return bad_frame(unlink ? "malformed UNLINK" : "malformed LINK");
  bool refused = false;
  detail::actor_cell* ex = inbound_.exposed_cell(l.target, remote_control::link, &refused);
  if (unlink) {
    if (auto p = proxies_->find(l.from); p && ex != nullptr) static_cast<detail::remote_proxy&>(*p).unlink_local(*ex);
    return true;
  }
  if (ex == nullptr) {
    // The peer's linking actor hears at once that there is no link.
    if (refused) refuse_control("LINK to", l.target);
    const char* why = refused ? "linking to this actor from another node is not allowed" : "no such actor";
    writer_.append([&](std::string& o) { control::append_exit(o, {l.from, l.target, exit_reason::stopped, why}); });
    return true;
  }
  // Each remote actor the peer links from costs a proxy here, kept by the
  // link: a peer naming ever new ones must not make us hold proxies without bound.
  if (!proxies_->admit_linked(l.from)) {
    return bad_frame("LINK past max_peer_links (" + std::to_string(proxies_->max_linked()) + " remote actors)");
  }
  detail::cell_ptr p = proxy_for(l.from, typeid(linked_actor_tag));
  static_cast<detail::remote_proxy&>(*p).link_local(*ex);
  return true;
}

bool connection::on_exit(std::string_view body) {
  control::exit x;
  if (!control::parse_exit(body, x)) return bad_frame("malformed EXIT");
  if (auto p = proxies_->find(x.from)) static_cast<detail::remote_proxy&>(*p).remote_exit(x.target, x.why, x.what);
  return true;
}

bool connection::on_return(std::string_view body) {
  std::uint64_t loan = 0;
  if (!control::parse_return(body, loan)) return bad_frame("malformed RETURN");
  shared_bytes back = lent_.take_back(loan);
  if (back.empty()) return bad_frame("RETURN of a buffer never lent");
  // A RETURN is the peer's word only: it may keep a read-only mapping (the
  // seals rule out writing) and read what this memory holds next.
  if (!node_.opts.reuse_returned_buffers) detail::shared_bytes_access::never_reuse(back);
  back = shared_bytes();  // into the pool (or freed) before it counts as back
  node_.counters.add_release(counter::transfers_back);
  return true;
}

bool connection::on_credit(std::string_view body) {
  control::credit c;
  if (!control::parse_credit(body, c)) return bad_frame("malformed FLOW_CREDIT");
  if (c.units > max_grant) return bad_frame("FLOW_CREDIT grants too much");
  proxies_->windows().grant(c.target, static_cast<std::int64_t>(c.units));
  return true;
}

bool connection::on_goodbye(std::string_view body) {
  std::string why = control::parse_goodbye(body);
  end_from_reader(close_reason::peer_left, why.substr(0, 256));
  return false;
}

} // namespace troupe::transport
