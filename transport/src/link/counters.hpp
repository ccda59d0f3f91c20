#pragma once
// Private to the transport: the one list of a node's counters. Each is a
// relaxed atomic, bumped where the event happens; node::stats() and the
// periodic metrics line read them through `counter_table`, so a counter is
// named once (as its node_stats field) and cannot drift.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "troupe/transport/node.hpp"

namespace troupe::transport {

/// One per field of node_stats, with the same name.
enum class counter : std::uint8_t {
  connections_accepted,
  connections_dialed,
  sessions_up,
  sessions_down,
  handshake_failures,
  auth_failures,
  handshake_timeouts,
  bad_frames,
  heartbeat_timeouts,
  write_stalls,
  messages_out,
  messages_in,
  bytes_out,
  bytes_in,
  writes,
  frames_out,
  frames_in,
  reconnects,
  stale_links_replaced,
  credit_stalls,
  dials_refused,
  links_interrupted,
  links_resumed,
  frames_resent,
  out_of_sequence,
  unacknowledged_lost,
  messages_acknowledged,
  transfers_out,
  transfers_back,
  handshakes_evicted,
  accept_failures,
  remote_control_refused,
  tls_handshakes,
  tls_resumed,
  tls_failures,
  local_peers_refused,
  count_  // not a counter
};

inline constexpr std::size_t counter_count = static_cast<std::size_t>(counter::count_);

/// A counter's row in the one list.
struct counter_row {
  counter id;
  const char* name;                      ///< as in node_stats and the metrics line
  std::uint64_t node_stats::*field;      ///< where node::stats() puts it
};

/// Every counter, in enum order.
[[nodiscard]] std::span<const counter_row> counter_table() noexcept;

/// A node's counters. @threadsafe (relaxed: each is a count, not a signal;
/// `transfers_back` is released after its buffer went back to the pool, see
/// the RETURN handler).
class node_counters {
 public:
  void add(counter c, std::uint64_t n = 1) noexcept {
    v_[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_relaxed);
  }
  void add_release(counter c, std::uint64_t n = 1) noexcept {
    v_[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_release);
  }
  [[nodiscard]] std::uint64_t get(counter c) const noexcept {
    return v_[static_cast<std::size_t>(c)].load(std::memory_order_acquire);
  }
  /// All of them, as node_stats.
  [[nodiscard]] node_stats snapshot() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, counter_count> v_{};
};

/// One connection's share of its node's counters: the ones that make sense
/// per link (traffic, writes, credit stalls) are kept here too, so the
/// metrics endpoint can label them with the peer. Every count goes on to
/// the node's. @threadsafe (as node_counters)
class link_counters {
 public:
  explicit link_counters(node_counters& node) noexcept : node_(node) {}
  void add(counter c, std::uint64_t n = 1) noexcept {
    node_.add(c, n);
    if (const int i = slot(c); i >= 0) own_[static_cast<std::size_t>(i)].fetch_add(n, std::memory_order_relaxed);
  }
  void add_release(counter c, std::uint64_t n = 1) noexcept {
    node_.add_release(c, n);
    if (const int i = slot(c); i >= 0) own_[static_cast<std::size_t>(i)].fetch_add(n, std::memory_order_relaxed);
  }
  /// This link's count of `c` (0 for a counter not kept per link).
  [[nodiscard]] std::uint64_t own(counter c) const noexcept {
    const int i = slot(c);
    return i < 0 ? 0 : own_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
  }

 private:
  static constexpr int slot(counter c) noexcept {
    switch (c) {
      case counter::bytes_out: return 0;
      case counter::bytes_in: return 1;
      case counter::frames_out: return 2;
      case counter::frames_in: return 3;
      case counter::messages_out: return 4;
      case counter::messages_in: return 5;
      case counter::writes: return 6;
      case counter::credit_stalls: return 7;
      case counter::messages_acknowledged: return 8;
      default: return -1;
    }
  }
  node_counters& node_;
  std::array<std::atomic<std::uint64_t>, 9> own_{};
};

} // namespace troupe::transport
