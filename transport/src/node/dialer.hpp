#pragma once
// Private to the transport: dialling. A dial_target (TCP, a Unix socket, or
// shared memory through a Unix socket) is dialled on the I/O thread without
// blocking it; a connection that ends, and a redial that fails, is dialled
// again with exponential backoff and jitter while the node's options say so.
// A connect() waits on its dial_state; its failure is reported, not retried,
// except a refusal because the peer still holds a connection this node lost
// (it goes on, with backoff, until the peer lets go of it).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>

#include "node/dial_target.hpp"

namespace troupe::transport {

class node_impl;
class connection;

class dialer {
 public:
  explicit dialer(node_impl& node) noexcept : node_(node) {}

  /// Dials `target`; the outcome goes to `waiter`, or (none: a reconnect)
  /// a failure schedules the next attempt. I/O thread.
  void dial(dial_target target, std::shared_ptr<dial_state> waiter);
  /// Dials `target` again after its backoff (not when the node stops or
  /// its options say not to: then `waiter`, if any, learns so). Logged at
  /// most once a second. I/O thread.
  void redial(dial_target target, std::shared_ptr<dial_state> waiter = nullptr);
  /// While `link` (a session the peer dialled) waits for the peer to dial
  /// again, dials the peer's listen address `at` (without a handshake)
  /// after `delay`, then with backoff: a refusal is evidence the peer is
  /// gone (connection::peer_gone). I/O thread.
  void probe(std::weak_ptr<connection> link, boost::asio::ip::tcp::endpoint at, std::chrono::milliseconds delay);

 private:
  /// A probe of one interrupted link (see probe()).
  struct probe_state {
    std::weak_ptr<connection> link;
    boost::asio::ip::tcp::endpoint at;
    std::chrono::milliseconds delay;
    std::uint64_t carrier;  // the carrier it lost: a probe stops once the link has another
  };
  /// The link still waits for the carrier the probe is for.
  bool still_waiting(const probe_state& p, const std::shared_ptr<connection>& c) const;
  /// Dials the probed address once.
  void knock(const probe_state& p);
  void dial_tcp(dial_target target, boost::asio::ip::tcp::endpoint ep, std::shared_ptr<dial_state> waiter);
  void dial_unix(dial_target target, const std::string& path, bool shm, std::shared_ptr<dial_state> waiter);
  /// A dial that did not end in a connection: its caller learns why, or a
  /// reconnect is scheduled.
  void failed(dial_target target, const std::shared_ptr<dial_state>& waiter, std::error_code ec, const std::string& why);

  node_impl& node_;
};

} // namespace troupe::transport
