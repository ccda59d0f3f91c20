#pragma once
// Private to the transport: who hears of peers coming and going (node_up,
// node_down, node_reconnected), and the last incarnation seen of each peer
// name, which tells a reconnect from a first connection. Its own lock; any
// thread (events are raised on the I/O thread).

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
  /// A connection with `name` was registered: node_up, or node_reconnected
  /// when that incarnation was connected before.
  void up(const std::string& name, std::uint64_t incarnation);
  /// The registered connection with `name` ended.
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
