#pragma once
/// @file An HTTP endpoint serving a system's metrics in the Prometheus text
/// format at `/metrics`. Off unless made: by a node (`node_options::metrics`)
/// or by the program. Either way it runs on an Asio thread of its own, so a
/// scrape never waits behind a node's I/O and a slow client never stalls it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace troupe {

class actor_system;

/// Where and how the endpoint listens. Checked where it is given.
struct metrics_endpoint_options {
  /// Address to listen on (an IP literal). Loopback by default: exposing
  /// counters beyond the host is the operator's choice.
  std::string address = "127.0.0.1";
  /// TCP port; 0 picks a free one (see metrics_server::port).
  std::uint16_t port = 0;
  /// Clients served at once; a connection beyond it is closed at accept
  /// and counted. At least 1.
  std::size_t max_connections = 16;
  /// A client must send its request and read the answer within this, or
  /// it is cut off (a slow client cannot hold a slot). Positive.
  std::chrono::milliseconds request_timeout{5000};

  /// Throws std::invalid_argument naming the bad field.
  void validate() const;
};

/// What the endpoint has served (also exported as troupe_metrics_http_*).
struct metrics_endpoint_stats {
  std::uint64_t requests = 0;      ///< requests answered (any status)
  std::uint64_t bad_requests = 0;  ///< answered 4xx (malformed, too large, wrong method, unknown path)
  std::uint64_t refused = 0;       ///< connections closed at accept (max_connections)
  std::uint64_t timeouts = 0;      ///< clients cut off by request_timeout
};

/// Serves `GET /metrics` (Prometheus text exposition 0.0.4, everything
/// `actor_system::metrics_text()` renders). Other paths answer 404, other
/// methods 405, malformed or oversized requests 400 or 431; each is counted
/// and the connection closed. The system must outlive the server.
class metrics_server {
 public:
  /// Listens now and serves on a thread of its own.
  /// @throws std::invalid_argument for bad options, std::system_error when
  /// the address cannot be bound.
  metrics_server(actor_system& sys, metrics_endpoint_options opts);
  /// Stops listening, closes every client; returns when none is in use.
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// The port it listens on. @threadsafe
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// @threadsafe
  [[nodiscard]] metrics_endpoint_stats stats() const noexcept;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

} // namespace troupe
