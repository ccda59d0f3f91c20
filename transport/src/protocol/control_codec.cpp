#include "protocol/control_codec.hpp"

#include "troupe/proto/troupe.pb.h"

namespace troupe::transport::control {

namespace {
wire::ExitReason to_wire(exit_reason r) {
  switch (r) {
    case exit_reason::normal: return wire::EXIT_NORMAL;
    case exit_reason::stopped: return wire::EXIT_STOPPED;
    case exit_reason::exception: return wire::EXIT_EXCEPTION;
    case exit_reason::killed: return wire::EXIT_KILLED;
    case exit_reason::node_down: return wire::EXIT_NODE_DOWN;
  }
  return wire::EXIT_STOPPED;
}

exit_reason exit_from_wire(int r) {
  switch (r) {
    case wire::EXIT_NORMAL: return exit_reason::normal;
    case wire::EXIT_STOPPED: return exit_reason::stopped;
    case wire::EXIT_EXCEPTION: return exit_reason::exception;
    case wire::EXIT_KILLED: return exit_reason::killed;
    default: return exit_reason::node_down;
  }
}

wire::AskError to_wire(ask_error e) {
  switch (e) {
    case ask_error::timeout: return wire::ASK_TIMEOUT;
    case ask_error::actor_stopped: return wire::ASK_ACTOR_STOPPED;
    case ask_error::exception: return wire::ASK_EXCEPTION;
    case ask_error::mailbox_full: return wire::ASK_MAILBOX_FULL;
    case ask_error::node_down: return wire::ASK_NODE_DOWN;
  }
  return wire::ASK_EXCEPTION;
}

ask_error ask_from_wire(int e) {
  switch (e) {
    case wire::ASK_TIMEOUT: return ask_error::timeout;
    case wire::ASK_ACTOR_STOPPED: return ask_error::actor_stopped;
    case wire::ASK_MAILBOX_FULL: return ask_error::mailbox_full;
    case wire::ASK_NODE_DOWN: return ask_error::node_down;
    default: return ask_error::exception;
  }
}

template <class M>
bool parse(M& m, std::string_view body) {
  return m.ParseFromArray(body.data(), static_cast<int>(body.size()));
}

std::string cut(std::string_view what) { return std::string(what.substr(0, max_what_bytes)); }

void append_monitor_kind(std::string& out, frame_kind k, const monitor& m) {
  wire::Monitor w;
  w.set_target(m.target);
  w.set_ref(m.ref);
  append_frame(out, k, w);
}

void append_link_kind(std::string& out, frame_kind k, const link& l) {
  wire::Link w;
  w.set_target(l.target);
  w.set_from(l.from);
  append_frame(out, k, w);
}
} // namespace

std::string kind_name(std::uint8_t kind) {
  if (!wire::FrameKind_IsValid(kind) || kind == 0) return "kind " + std::to_string(kind);
  return wire::FrameKind_Name(static_cast<wire::FrameKind>(kind));
}

void append_stop(std::string& out, const stop& s) {
  wire::Stop w;
  w.set_target(s.target);
  w.set_reason(to_wire(s.why));
  append_frame(out, frame_kind::stop, w);
}

void append_monitor(std::string& out, const monitor& m) { append_monitor_kind(out, frame_kind::monitor, m); }
void append_demonitor(std::string& out, const monitor& m) { append_monitor_kind(out, frame_kind::demonitor, m); }
void append_link(std::string& out, const link& l) { append_link_kind(out, frame_kind::link, l); }
void append_unlink(std::string& out, const link& l) { append_link_kind(out, frame_kind::unlink, l); }

void append_exit(std::string& out, const exit& x) {
  wire::Exit w;
  w.set_target(x.target);
  w.set_from(x.from);
  w.set_reason(to_wire(x.why));
  w.set_what(cut(x.what));
  append_frame(out, frame_kind::exit, w);
}

void append_down(std::string& out, const down& d) {
  wire::Down w;
  w.set_actor(d.actor);
  w.set_ref(d.ref);
  w.set_reason(to_wire(d.why));
  w.set_what(cut(d.what));
  append_frame(out, frame_kind::down, w);
}

void append_reply(std::string& out, std::uint64_t request, std::string_view payload) {
  wire::Reply w;
  w.set_request_id(request);
  w.set_payload(std::string(payload));
  append_frame(out, frame_kind::reply, w);
}

void append_reply_error(std::string& out, std::uint64_t request, ask_error code, std::string_view message) {
  wire::Reply w;
  w.set_request_id(request);
  w.set_error(to_wire(code));
  w.set_message(std::string(message));
  append_frame(out, frame_kind::reply, w);
}

void append_lookup(std::string& out, const lookup& l) {
  wire::Lookup w;
  w.set_request_id(l.request);
  w.set_name(l.name);
  append_frame(out, frame_kind::lookup, w);
}

void append_lookup_reply(std::string& out, const lookup_reply& r) {
  wire::LookupReply w;
  w.set_request_id(r.request);
  if (r.found) {
    w.set_found(true);
    w.set_actor(r.actor);
    w.set_actor_type(r.actor_type);
    for (const std::string& a : r.accepts) w.add_accepts(a);
  }
  append_frame(out, frame_kind::lookup_reply, w);
}

void append_credit(std::string& out, const credit& c) {
  wire::FlowCredit w;
  w.set_messages(c.units);
  w.set_target(c.target);
  append_frame(out, frame_kind::flow_credit, w);
}

void append_return(std::string& out, std::uint64_t loan) {
  const std::size_t start = begin_frame(out, frame_kind::give_back);
  framing::put_fixed64(out, loan);
  end_frame(out, start);
}

void append_heartbeat(std::string& out, std::uint64_t sequence, std::uint64_t echo) {
  wire::Heartbeat w;
  w.set_sequence(sequence);
  w.set_echo(echo);
  append_frame(out, frame_kind::heartbeat, w);
}

bool parse_heartbeat(std::string_view body, std::uint64_t& sequence, std::uint64_t& echo) {
  wire::Heartbeat w;
  if (!w.ParseFromArray(body.data(), static_cast<int>(body.size()))) return false;
  sequence = w.sequence();
  echo = w.echo();
  return true;
}

void append_ack(std::string& out, std::uint64_t delivered) {
  wire::Ack w;
  w.set_delivered(delivered);
  append_frame(out, frame_kind::ack, w);
}

void append_goodbye(std::string& out, std::string_view reason) {
  wire::Goodbye w;
  w.set_reason(std::string(reason));
  append_frame(out, frame_kind::goodbye, w);
}

void put_transfer(std::string& out, const transfer& t) {
  framing::put_fixed64(out, t.size);
  framing::put_fixed64(out, t.loan);
}

bool parse_stop(std::string_view body, stop& into) {
  wire::Stop w;
  if (!parse(w, body)) return false;
  into.target = w.target();
  into.why = exit_from_wire(w.reason());
  return true;
}

bool parse_monitor(std::string_view body, monitor& into) {
  wire::Monitor w;
  if (!parse(w, body)) return false;
  into.target = w.target();
  into.ref = w.ref();
  return true;
}

bool parse_link(std::string_view body, link& into) {
  wire::Link w;
  if (!parse(w, body)) return false;
  into.target = w.target();
  into.from = w.from();
  return true;
}

bool parse_exit(std::string_view body, exit& into) {
  wire::Exit w;
  if (!parse(w, body)) return false;
  into.target = w.target();
  into.from = w.from();
  into.why = exit_from_wire(w.reason());
  into.what = std::move(*w.mutable_what());
  return true;
}

bool parse_down(std::string_view body, down& into) {
  wire::Down w;
  if (!parse(w, body)) return false;
  into.actor = w.actor();
  into.ref = w.ref();
  into.why = exit_from_wire(w.reason());
  into.what = std::move(*w.mutable_what());
  return true;
}

bool parse_reply(std::string_view body, reply& into) {
  wire::Reply w;
  if (!parse(w, body)) return false;
  into.request = w.request_id();
  into.ok = w.error() == wire::ASK_OK;
  if (into.ok) {
    into.payload = std::move(*w.mutable_payload());
  } else {
    into.error = ask_from_wire(w.error());
    into.message = std::move(*w.mutable_message());
  }
  return true;
}

bool parse_lookup(std::string_view body, lookup& into) {
  wire::Lookup w;
  if (!parse(w, body)) return false;
  into.request = w.request_id();
  into.name = std::move(*w.mutable_name());
  return true;
}

bool parse_lookup_reply(std::string_view body, lookup_reply& into) {
  wire::LookupReply w;
  if (!parse(w, body)) return false;
  into.request = w.request_id();
  into.found = w.found();
  into.actor = w.actor();
  into.actor_type = std::move(*w.mutable_actor_type());
  into.accepts.assign(w.accepts().begin(), w.accepts().end());
  return true;
}

bool parse_credit(std::string_view body, credit& into) {
  wire::FlowCredit w;
  if (!parse(w, body)) return false;
  into.target = w.target();
  into.units = w.messages();
  return true;
}

bool parse_ack(std::string_view body, std::uint64_t& delivered) {
  wire::Ack w;
  if (!parse(w, body)) return false;
  delivered = w.delivered();
  return true;
}

bool parse_return(std::string_view body, std::uint64_t& loan) {
  if (body.size() != 8) return false;
  loan = framing::get_fixed64(body);
  return true;
}

std::string parse_goodbye(std::string_view body) {
  wire::Goodbye w;
  return parse(w, body) ? std::move(*w.mutable_reason()) : std::string("(unreadable)");
}

bool parse_transfer(std::string_view payload, transfer& into) {
  if (payload.size() != transfer_payload_bytes) return false;
  into.size = framing::get_fixed64(payload);
  into.loan = framing::get_fixed64(payload.substr(8));
  return true;
}

} // namespace troupe::transport::control
