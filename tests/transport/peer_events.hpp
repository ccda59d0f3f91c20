#pragma once
// A subscriber to a node's peer events (node::subscribe) that reports each
// as a line ("up beta", "down beta: <reason>", "reconnected beta") to an
// inbox, checking the incarnation against the one it expects.

#include <atomic>
#include <cstdint>
#include <string>

#include "troupe/troupe.hpp"

namespace transport_test {

struct peer_events : troupe::actor<peer_events> {
  using out_ref = troupe::actor_ref<troupe::inbox<std::string>::actor_type>;
  explicit peer_events(out_ref out) : out_(std::move(out)) {}
  void on(troupe::node_up u) { out_.tell("up " + u.name + inc(u.incarnation)); }
  void on(troupe::node_down d) { out_.tell("down " + d.name + inc(d.incarnation) + ": " + d.reason); }
  void on(troupe::node_reconnected r) { out_.tell("reconnected " + r.name + inc(r.incarnation)); }
  /// " (no incarnation)" when an event came without one.
  static std::string inc(std::uint64_t i) { return i == 0 ? " (no incarnation)" : ""; }
  out_ref out_;
};

/// The next event line, or "none" after `within`.
inline std::string next_event(troupe::inbox<std::string>& in, std::chrono::milliseconds within = std::chrono::seconds(20)) {
  auto e = in.receive(within);
  return e ? *e : std::string("none");
}

} // namespace transport_test
