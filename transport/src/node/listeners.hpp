#pragma once
// Private to the transport: where a node accepts connections. A TCP
// endpoint, a Unix socket, and a Unix socket through which shared-memory
// connections are set up (the rendezvous). The I/O thread accepts; a
// connection in its handshake costs memory, so the node bounds them
// (node_options::max_handshakes, evicting the oldest stranger), and a
// listener out of descriptors sheds a connection and backs off.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>

namespace troupe::transport {

class node_impl;

class listeners {
 public:
  explicit listeners(node_impl& node) noexcept : node_(node) {}

  /// Opens what the node's options ask for and starts accepting.
  /// @throws std::invalid_argument for a bad listen_host, std::runtime_error
  /// when an endpoint cannot be bound.
  void open();
  /// Stops accepting and removes the socket files this node made. I/O thread.
  void close();
  /// Frees the acceptors (after the I/O thread ended).
  void reset() noexcept;
  /// The TCP port (0 when not listening).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

 private:
  using unix_acceptor = boost::asio::local::stream_protocol::acceptor;
  /// A Unix socket listener and the socket file it made.
  struct unix_listener {
    std::unique_ptr<unix_acceptor> acceptor;
    std::unique_ptr<boost::asio::steady_timer> retry;  // the wait before the next accept after a failure
    std::string path;
    std::pair<dev_t, ino_t> file{0, 0};
  };
  void open_tcp();
  void accept_tcp();
  void open_unix(unix_listener& l, const std::string& path);
  static void close_unix(unix_listener& l);
  /// Accepts on a Unix socket listener: plain connections, or (shm) the
  /// shared-memory rendezvous first.
  void accept_unix(unix_listener& l, bool shm);
  void on_shm_socket(boost::asio::local::stream_protocol::socket sock, const std::string& path);
  /// An accept on `where` (listening descriptor `fd`) failed with `ec`:
  /// counted and logged (at most once a second). Out of descriptors, the
  /// connection waiting is taken with the reserve descriptor and closed at
  /// once (so the peer hears no, rather than hanging), and the next accept
  /// waits, from 10 ms doubling to 1 s; returns that wait (zero otherwise).
  std::chrono::milliseconds accept_failed(int fd, const boost::system::error_code& ec, const std::string& where);
  /// Runs `next` on the I/O thread after `delay` (at once when zero), on
  /// `timer` (made when the listener opened: nothing is allocated while
  /// out of descriptors).
  template <class F>
  void after(boost::asio::steady_timer& timer, std::chrono::milliseconds delay, F next);

  node_impl& node_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> tcp_;
  std::unique_ptr<boost::asio::steady_timer> tcp_retry_;
  std::uint16_t port_ = 0;
  unix_listener unix_;
  unix_listener shm_;
  std::atomic<std::size_t> rendezvous_{0};  // shared-memory handshakes under way
  int reserve_fd_ = -1;                        // given up to take (and refuse) a connection when out of descriptors
  std::chrono::milliseconds accept_wait_{0};   // the I/O thread's: the backoff after running out of descriptors
};

} // namespace troupe::transport
