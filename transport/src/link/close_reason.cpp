#include "link/close_reason.hpp"

#include <array>

#include "troupe/actors/error.hpp"

namespace troupe::transport {

namespace {
using enum close_reason;
using enum close_log;
constexpr std::size_t reasons = static_cast<std::size_t>(count_);
static_assert(reasons <= log_limiter::credit_stall_key, "a limited reason's log key is its value, below the others");

constexpr std::array<close_rule, reasons> rules{{
    /* peer_left         */ {"the peer left", counter::count_, counter::count_, info},
    /* peer_closed       */ {"connection closed by the peer", counter::count_, counter::count_, warn, false, true},
    /* read_failed       */ {"read failed", counter::count_, counter::count_, warn, false, true},
    /* write_failed      */ {"write failed", counter::count_, counter::count_, warn, false, true},
    /* bad_frame         */ {"bad frame", counter::bad_frames},
    // Refusals of strangers are logged at most once a second (with how many
    // the line stands for): a flood of them must not flood the log.
    /* handshake_failed  */ {"handshake failed", counter::handshake_failures, counter::count_, limited},
    /* auth_failed       */ {"handshake failed", counter::handshake_failures, counter::auth_failures, limited},
    /* handshake_timeout */ {"handshake timed out", counter::handshake_timeouts, counter::count_, limited},
    // A TLS failure on a session that was up (a record that does not
    // authenticate) is a fault on the path: a reliable link resumes.
    /* tls_failed        */ {"TLS failed", counter::tls_failures, counter::count_, limited, false, true},
    /* not_certified     */ {"refused: the certificate does not name the peer", counter::tls_failures,
                             counter::handshake_failures, limited},
    /* evicted           */ {"evicted in its handshake: a newer connection needed the slot", counter::handshakes_evicted,
                             counter::count_, limited},
    /* duplicate         */ {"already connected", counter::count_, counter::count_, quiet},
    /* peer_holds_stale  */ {"refused: the peer still holds a connection this node lost; dialling again",
                             counter::dials_refused, counter::count_, limited},
    /* heartbeat_timeout */ {"heartbeat timed out", counter::heartbeat_timeouts, counter::count_, warn, false, true},
    /* write_stall       */ {"the peer is not reading", counter::write_stalls},
    /* out_of_sequence   */ {"frame out of sequence", counter::out_of_sequence, counter::count_, limited, false, true},
    /* not_back          */ {"the link did not come back in time"},
    /* peer_gone         */ {"the peer is gone (its address refuses connections)"},
    /* session_lost      */ {"the peer no longer holds this session", counter::count_, counter::count_, warn, true},
    /* replaced          */ {"replaced by a new incarnation"},
    /* peer_reconnected  */ {"replaced: the peer lost this connection and dialled again", counter::stale_links_replaced,
                             counter::count_, info},
    /* lost_race         */ {"a second connection (both nodes dialled): keeping the other", counter::count_,
                             counter::count_, quiet, true},
    /* shutting_down     */ {"the node is shutting down", counter::count_, counter::count_, quiet, true},
    /* closed            */ {"closed", counter::count_, counter::count_, quiet, true},
}};
} // namespace

const close_rule& rule_of(close_reason r) noexcept { return rules[static_cast<std::size_t>(r)]; }

std::string_view label_of(close_reason r) noexcept {
  static constexpr std::array<std::string_view, close_reason_count> labels{
      "peer_left",    "peer_closed",       "read_failed",      "write_failed", "bad_frame",
      "handshake_failed", "auth_failed",   "handshake_timeout", "tls_failed",  "not_certified",
      "evicted",      "duplicate",         "peer_holds_stale", "heartbeat_timeout", "write_stall",
      "out_of_sequence", "not_back",       "peer_gone",        "session_lost", "replaced",
      "peer_reconnected", "lost_race",     "shutting_down",    "closed"};
  return labels[static_cast<std::size_t>(r)];
}

std::error_code error_of(close_reason r) noexcept {
  switch (r) {
    case handshake_failed:
    case duplicate:
    case bad_frame: return errc::refused;
    case auth_failed:
    case tls_failed:
    case not_certified: return errc::auth_failed;
    case handshake_timeout: return ask_error::timeout;
    case peer_closed:
    case read_failed:
    case write_failed: return errc::io_error;
    case shutting_down: return errc::shutting_down;
    default: return ask_error::node_down;
  }
}

} // namespace troupe::transport
