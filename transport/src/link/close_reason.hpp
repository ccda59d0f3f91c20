#pragma once
// Private to the transport: why a connection ends. One enum, and one table
// (close_reason.cpp) that says for each reason what it counts, how loudly
// it is logged and whether the peer gets a GOODBYE first. Every end of a
// connection goes through connection::end(reason, detail), which reads it.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "link/counters.hpp"
#include "link/log.hpp"

namespace troupe::transport {

enum class close_reason : std::uint8_t {
  // The peer.
  peer_left,          ///< it said GOODBYE
  peer_closed,        ///< end of stream
  read_failed,        ///< the stream failed while reading
  write_failed,       ///< ... while writing
  bad_frame,          ///< a malformed or forbidden frame after the handshake (or a lying shared-memory peer)
  // The handshake.
  handshake_failed,   ///< garbage, a wrong version or name, a refusal of ours or the peer's
  auth_failed,        ///< the cookies differ
  handshake_timeout,  ///< not finished within node_options::handshake_timeout
  tls_failed,         ///< TLS refused the peer (certificate, protocol) or a record did not authenticate
  not_certified,      ///< the peer's certificate does not name the node it claims to be
  evicted,            ///< still in its handshake when a newer connection from its address (or anywhere) needed the slot
  duplicate,          ///< a second connection to a peer we have one with (the first serves)
  peer_holds_stale,   ///< refused: the peer still holds a connection with us that we lost (we dial again)
  // Liveness.
  heartbeat_timeout,  ///< nothing heard within node_options::heartbeat_timeout
  write_stall,        ///< the peer does not read what we send
  out_of_sequence,    ///< a frame was lost, repeated or reordered on the wire
  // Reliable delivery.
  not_back,           ///< an interrupted link did not resume within node_options::down_after
  peer_gone,          ///< an interrupted link's peer is gone (its address refuses connections)
  session_lost,       ///< the peer no longer holds the session this node tried to resume
  // This node.
  replaced,           ///< a new incarnation of the peer connected
  peer_reconnected,   ///< the peer redialled (it had lost this connection, we had not noticed)
  lost_race,          ///< both nodes dialled each other: the other connection serves
  shutting_down,      ///< the node is stopping
  closed,             ///< peer::close() or a worker's end
  count_              // not a reason
};

/// How a reason is logged; `limited`: at info, at most once a second.
enum class close_log : std::uint8_t { quiet, info, warn, limited };

/// What a reason means; one row per reason.
struct close_rule {
  std::string_view text;                  ///< the start of the log line and of node_down's `what`
  counter first = counter::count_;        ///< counted (count_: nothing)
  counter second = counter::count_;       ///< counted too (auth_failed: handshake_failures and auth_failures)
  close_log log = close_log::warn;
  bool goodbye = false;                   ///< say GOODBYE before closing (an established connection)
  bool resumes = false;                   ///< a transport fault: a reliable link is interrupted, not ended
};

[[nodiscard]] const close_rule& rule_of(close_reason r) noexcept;

inline constexpr std::size_t close_reason_count = static_cast<std::size_t>(close_reason::count_);

/// The reason's identifier ("peer_closed"), as a metrics label.
[[nodiscard]] std::string_view label_of(close_reason r) noexcept;

/// What a connect() that ended this way reports (troupe::errc or ask_error).
[[nodiscard]] std::error_code error_of(close_reason r) noexcept;

} // namespace troupe::transport
