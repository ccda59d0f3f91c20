#pragma once
// Private to the transport: the control frames as plain values, and their
// builders and parsers. Pure functions, no state, no I/O: the only place
// outside the handshake that touches the generated protobuf types (see
// proto/schema/troupe/proto/troupe.proto for the wire layout).
//
// Each append_* appends one whole frame to `out`. Each parse_* reads the
// body of one frame of its kind: false when it is malformed (then `into`
// may hold part of it).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/frame.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/exit_reason.hpp"

namespace troupe::transport::control {

/// A reason text sent with EXIT and DOWN is cut to this many bytes.
inline constexpr std::size_t max_what_bytes = 4096;
/// A REPLY frame's bytes around its payload (kind, request id, tags, lengths).
inline constexpr std::size_t reply_overhead = 32;
/// A TRANSFER's Envelope payload: the buffer's size and its loan id.
inline constexpr std::size_t transfer_payload_bytes = 16;

/// STOP: stop the receiver's actor `target` (reason stopped or killed).
struct stop {
  std::uint64_t target = 0;
  exit_reason why = exit_reason::stopped;
};
/// MONITOR and DEMONITOR: the sender watches (or stops watching) `target` under `ref`.
struct monitor {
  std::uint64_t target = 0;
  std::uint64_t ref = 0;
};
/// LINK and UNLINK: the sender's actor `from` and the receiver's `target`.
struct link {
  std::uint64_t target = 0;
  std::uint64_t from = 0;
};
/// EXIT: the sender's actor `from`, linked to the receiver's `target`, stopped.
struct exit {
  std::uint64_t target = 0;
  std::uint64_t from = 0;
  exit_reason why = exit_reason::normal;
  std::string what;
};
/// DOWN: the sender's actor `actor`, watched by the receiver's monitor `ref`, stopped.
struct down {
  std::uint64_t actor = 0;
  std::uint64_t ref = 0;
  exit_reason why = exit_reason::normal;
  std::string what;
};
/// REPLY: the answer to the receiver's ask `request`: a payload, or an error.
struct reply {
  std::uint64_t request = 0;
  bool ok = true;
  ask_error error = ask_error::exception;  ///< when !ok
  std::string message;                     ///< when !ok
  std::string payload;                     ///< when ok
};
/// LOOKUP: what is published as `name`?
struct lookup {
  std::uint64_t request = 0;
  std::string name;
};
/// LOOKUP_REPLY.
struct lookup_reply {
  std::uint64_t request = 0;
  bool found = false;
  std::uint64_t actor = 0;
  std::string actor_type;            ///< the published actor's C++ type (mangled)
  std::vector<std::string> accepts;  ///< the wire names it accepts
};
/// FLOW_CREDIT: the sender grants `units` more for its actor `target`.
struct credit {
  std::uint64_t target = 0;
  std::uint64_t units = 0;
};
/// The payload of a TRANSFER's Envelope: a buffer of `size` bytes, lent as `loan`.
struct transfer {
  std::uint64_t size = 0;
  std::uint64_t loan = 0;
};

/// A frame kind's name for logs ("MESSAGE", "FLOW_CREDIT"; "kind 77" when unknown).
[[nodiscard]] std::string kind_name(std::uint8_t kind);

void append_stop(std::string& out, const stop& s);
void append_monitor(std::string& out, const monitor& m);
void append_demonitor(std::string& out, const monitor& m);
void append_link(std::string& out, const link& l);
void append_unlink(std::string& out, const link& l);
void append_exit(std::string& out, const exit& x);
void append_down(std::string& out, const down& d);
void append_reply(std::string& out, std::uint64_t request, std::string_view payload);
void append_reply_error(std::string& out, std::uint64_t request, ask_error code, std::string_view message);
void append_lookup(std::string& out, const lookup& l);
void append_lookup_reply(std::string& out, const lookup_reply& r);
void append_credit(std::string& out, const credit& c);
/// RETURN: the receiver's lent buffer `loan` is given back.
void append_return(std::string& out, std::uint64_t loan);
void append_heartbeat(std::string& out, std::uint64_t sequence, std::uint64_t echo = 0);
/// ACK: every frame up to number `delivered` was delivered.
void append_ack(std::string& out, std::uint64_t delivered);
void append_goodbye(std::string& out, std::string_view reason);
/// Appends a TRANSFER's payload (inside an Envelope being built).
void put_transfer(std::string& out, const transfer& t);

[[nodiscard]] bool parse_stop(std::string_view body, stop& into);
/// MONITOR or DEMONITOR.
[[nodiscard]] bool parse_monitor(std::string_view body, monitor& into);
/// LINK or UNLINK.
[[nodiscard]] bool parse_link(std::string_view body, link& into);
[[nodiscard]] bool parse_exit(std::string_view body, exit& into);
[[nodiscard]] bool parse_down(std::string_view body, down& into);
[[nodiscard]] bool parse_reply(std::string_view body, reply& into);
[[nodiscard]] bool parse_lookup(std::string_view body, lookup& into);
[[nodiscard]] bool parse_lookup_reply(std::string_view body, lookup_reply& into);
[[nodiscard]] bool parse_credit(std::string_view body, credit& into);
[[nodiscard]] bool parse_ack(std::string_view body, std::uint64_t& delivered);
[[nodiscard]] bool parse_heartbeat(std::string_view body, std::uint64_t& sequence, std::uint64_t& echo);
[[nodiscard]] bool parse_return(std::string_view body, std::uint64_t& loan);
/// A GOODBYE's reason ("(unreadable)" when malformed: a goodbye is taken either way).
[[nodiscard]] std::string parse_goodbye(std::string_view body);
[[nodiscard]] bool parse_transfer(std::string_view payload, transfer& into);

} // namespace troupe::transport::control
