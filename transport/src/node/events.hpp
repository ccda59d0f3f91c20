#pragma once
// Private to the transport: who hears of peers coming and going (node_up,
// node_down, node_reconnected), and the incarnation of each peer name with
// a session now, which tells a resumed session from a new one. Its own
// lock; any thread (events are raised on the I/O thread).

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/transport/node.hpp"

namespace troupe::transport {

using peer_event = std::variant<node_up, node_down, node_reconnected>;

class node_events {
 public:
  /// `deliver` tells `who` an event; `who` stops hearing them once it stopped.
  void subscribe(detail::cell_ptr who, std::function<void(const peer_event&)> deliver);
  /// A session with `name` is up: node_up for a new one, node_reconnected
  /// when that incarnation's session resumed (no down() between).
  void up(const std::string& name, std::uint64_t incarnation);
  /// The session with `name` ended for good (its handles report node_down).
  void down(const std::string& name, std::uint64_t incarnation, const std::string& reason);
  /// Subscribers held (stopped ones go at the next event).
  [[nodiscard]] std::size_t subscribers();

 private:
  struct subscriber {
    detail::cell_ptr who;
    std::function<void(const peer_event&)> deliver;
  };
  void raise(const peer_event& e);

  std::mutex mx_;
  std::vector<subscriber> subscribers_;
  std::unordered_map<std::string, std::uint64_t> seen_;  // peer name -> the last incarnation connected
};

} // namespace troupe::transport
