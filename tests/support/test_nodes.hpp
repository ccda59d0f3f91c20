#pragma once
/// @file Node options shared by the transport and cluster tests.

#include <chrono>
#include <string>

#include "troupe/transport/node_options.hpp"

namespace troupe::test {

/// A test node: `cookie`, and heartbeats and reconnects fast enough that
/// failure tests end quickly.
inline node_options quick_node_options(std::string name, const char* cookie) {
  using namespace std::chrono_literals;
  node_options o;
  o.name = std::move(name);
  o.cookie = cookie;
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = 600ms;
  o.reconnect_min = 50ms;
  o.reconnect_max = 400ms;
  return o;
}

} // namespace troupe::test
