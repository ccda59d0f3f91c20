#pragma once
// Private to the transport: the node's shared state and its I/O thread.

#include <sys/types.h>

#include <atomic>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "session.hpp"
#include "troupe/actors/actor_system.hpp"
#include "troupe/transport/node.hpp"

namespace troupe::transport {

/// A local actor other nodes may address.
struct exposed_actor {
  detail::cell_ptr cell;
  const std::type_info* type = nullptr;
  std::unordered_map<std::string, remote::inbound_type> accepts;  // by wire name
};

struct node_counters {
  std::atomic<std::uint64_t> accepted{0}, dialed{0}, up{0}, down{0}, hs_failures{0}, auth_failures{0},
      hs_timeouts{0}, bad_frames{0}, hb_timeouts{0}, write_stalls{0}, msgs_out{0}, msgs_in{0}, bytes_out{0}, bytes_in{0}, writes{0},
      frames_out{0}, frames_in{0}, reconnects{0}, transfers_out{0}, transfers_back{0};
};

class node_impl {
 public:
  node_impl(actor_system& sys, node_options opts);
  ~node_impl();
  node_impl(const node_impl&) = delete;
  node_impl& operator=(const node_impl&) = delete;

  /// Closes every session (peers see a goodbye) and joins the I/O thread.
  void stop();

  result<peer> connect(dial_target target, std::chrono::milliseconds timeout);
  result<peer> adopt(int read_fd, int write_fd, bool initiator, std::chrono::milliseconds timeout,
                     int worker_pid = -1);
  /// Runs a session over `stream` (any thread; blocks until it is up or failed).
  result<peer> adopt_stream(std::unique_ptr<byte_stream> stream, bool initiator, std::chrono::milliseconds timeout,
                            int worker_pid = -1);
  result<std::pair<peer, int>> start_worker(const worker_options& o);
  /// A worker's session ended: how its process ended (waits briefly for it).
  std::string worker_exit(int pid, const std::string& reason);
  std::optional<peer> find_peer(std::string_view name) const;
  void publish(std::string name, detail::actor_cell* c, const std::type_info& type,
               std::vector<remote::inbound_type> accepts);
  void unpublish(std::string_view name);

  // -- for sessions --
  /// The acceptor decides whether an authenticated peer may have a session:
  /// an empty string admits it, anything else is the refusal's reason.
  std::string admit(const session& s);
  /// Registers an established session; false when it lost to a duplicate
  /// (both nodes dialled each other) and has been closed.
  bool session_up(const std::shared_ptr<session>& s);
  std::shared_ptr<session> find_session(const std::string& name) const;
  void session_down(session& s, bool was_established);
  std::shared_ptr<exposed_actor> find_exposed(std::uint64_t id) const;
  /// The published actor called `name`, or nullptr.
  std::shared_ptr<exposed_actor> find_published(const std::string& name) const;
  bool knows_type(const std::string& wire_name) const;
  [[nodiscard]] std::uint64_t exposed_generation() const noexcept { return gen_.load(std::memory_order_acquire); }
  void dial(dial_target target, std::shared_ptr<dial_state> waiter);
  void dial_endpoint(dial_target target, tcp::endpoint ep, std::shared_ptr<dial_state> waiter);

  actor_system& sys;
  detail::system_core& core;
  node_options opts;
  std::string cookie;
  std::uint64_t incarnation = 0;
  std::uint16_t port = 0;
  asio::io_context io;
  node_counters counters;

 private:
  void accept_next();
  /// Accepts on a Unix socket listener: plain sessions, or (shm) the
  /// shared-memory rendezvous first.
  void accept_next_local(asio::local::stream_protocol::acceptor& acceptor, const std::string& path, bool shm);
  /// A dial that did not end in a session: its caller learns why, or a
  /// reconnect is scheduled.
  void dial_failed(dial_target target, const std::shared_ptr<dial_state>& waiter, const std::string& why);
  std::unique_ptr<asio::local::stream_protocol::acceptor> open_unix_listener(const std::string& path,
                                                                             std::pair<dev_t, ino_t>& file);
  static void close_unix_listener(std::unique_ptr<asio::local::stream_protocol::acceptor>& acceptor,
                                  const std::string& path, std::pair<dev_t, ino_t> file);
  void start_session(std::unique_ptr<byte_stream> stream, handshake::role role, std::optional<dial_target> target,
                     std::shared_ptr<dial_state> waiter, int worker_pid = -1, bool accepted = false);
  void reap_workers(std::chrono::milliseconds grace);
  result<peer> await_dial(dial_state& waiter, const std::string& where, std::chrono::milliseconds timeout);
  static constexpr std::size_t max_handshaking = 1024;
  void schedule_reconnect(dial_target target);
  void arm_metrics_log();
  std::unique_ptr<asio::steady_timer> metrics_timer_;
  void purge_stopped_locked();

  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> unix_acceptor_;
  std::pair<dev_t, ino_t> unix_file_{0, 0};  // the socket file we made
  std::unique_ptr<asio::local::stream_protocol::acceptor> shm_acceptor_;
  std::pair<dev_t, ino_t> shm_file_{0, 0};
  std::atomic<std::size_t> rendezvous_{0};  // shared-memory handshakes under way (I/O thread)
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;

  mutable std::mutex mx_;
  std::unordered_map<std::string, std::shared_ptr<session>> sessions_;  // established, by peer name
  std::unordered_set<std::shared_ptr<session>> handshaking_;
  std::vector<std::shared_ptr<session>> ended_;  // closed by stop(), until their proxies have closed
  std::unordered_map<std::string, std::shared_ptr<exposed_actor>> published_;
  std::unordered_map<std::uint64_t, std::shared_ptr<exposed_actor>> exposed_;
  std::unordered_map<std::string, std::size_t> known_types_;
  std::atomic<std::uint64_t> gen_{0};
  std::vector<int> workers_;  // worker processes not yet reaped (mx_)
};

} // namespace troupe::transport
