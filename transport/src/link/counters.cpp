#include "link/counters.hpp"

#include <cstddef>

namespace troupe::transport {

namespace {
#define TROUPE_ROW(n) counter_row{counter::n, #n, &node_stats::n}
constexpr std::array<counter_row, counter_count> rows{
    TROUPE_ROW(connections_accepted), TROUPE_ROW(connections_dialed), TROUPE_ROW(sessions_up),
    TROUPE_ROW(sessions_down),        TROUPE_ROW(handshake_failures), TROUPE_ROW(auth_failures),
    TROUPE_ROW(handshake_timeouts),   TROUPE_ROW(bad_frames),         TROUPE_ROW(heartbeat_timeouts),
    TROUPE_ROW(write_stalls),         TROUPE_ROW(messages_out),       TROUPE_ROW(messages_in),
    TROUPE_ROW(bytes_out),            TROUPE_ROW(bytes_in),           TROUPE_ROW(writes),
    TROUPE_ROW(frames_out),           TROUPE_ROW(frames_in),          TROUPE_ROW(reconnects),
    TROUPE_ROW(stale_links_replaced), TROUPE_ROW(credit_stalls),      TROUPE_ROW(dials_refused),
    TROUPE_ROW(links_interrupted),    TROUPE_ROW(links_resumed),      TROUPE_ROW(frames_resent),
    TROUPE_ROW(out_of_sequence),      TROUPE_ROW(unacknowledged_lost),  TROUPE_ROW(messages_acknowledged),
    TROUPE_ROW(transfers_out),        TROUPE_ROW(transfers_back),
    TROUPE_ROW(handshakes_evicted),
    TROUPE_ROW(accept_failures),
    TROUPE_ROW(remote_control_refused),
    TROUPE_ROW(tls_handshakes),
    TROUPE_ROW(tls_resumed),
    TROUPE_ROW(tls_failures),
    TROUPE_ROW(local_peers_refused),
};
#undef TROUPE_ROW

constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (static_cast<std::size_t>(rows[i].id) != i) return false;
  }
  return true;
}
static_assert(in_enum_order(), "counter_table must list every counter once, in enum order");
static_assert(sizeof(node_stats) == (counter_count + 1) * sizeof(std::uint64_t) &&
                  offsetof(node_stats, messages_in_flight) == counter_count * sizeof(std::uint64_t),
              "every node_stats field but the last (a gauge node::stats() reads) is a counter of the table");
} // namespace

std::span<const counter_row> counter_table() noexcept { return rows; }

node_stats node_counters::snapshot() const noexcept {
  node_stats s;
  for (const counter_row& r : rows) s.*(r.field) = get(r.id);
  return s;
}

} // namespace troupe::transport
