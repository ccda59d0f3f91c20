#pragma once
// Private to the transport: the node behind the `troupe::node` facade. It
// runs the I/O thread and keeps the registry of connections; its parts
// each own one thing:
//
// | part             | owns                                                    |
// |------------------|---------------------------------------------------------|
// | listeners        | the TCP, Unix and shared-memory acceptors               |
// | dialer           | dialling a dial_target, and redialling with backoff     |
// | directory        | the local actors published (by name) or exposed (by id) |
// | events           | node_up / node_down / node_reconnected subscribers      |
// | worker_processes | starting worker processes and collecting their exits    |
// | node_counters    | the one counter list                                    |
//
// Threads: the I/O thread runs every connection's lifecycle, the listeners
// and the dialer; the registry below is under mx_; public calls come from
// any thread.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>
#include <vector>

#include "link/connection.hpp"
#include "link/close_reason.hpp"
#include "link/counters.hpp"
#include "link/log.hpp"
#include "node/dialer.hpp"
#include "node/directory.hpp"
#include "node/auth_penalties.hpp"
#include "node/events.hpp"
#include "node/handshakes.hpp"
#include "node/listeners.hpp"
#include "node/peer_access.hpp"
#include "node/worker_processes.hpp"
#include "streams/tls_context.hpp"
#include "troupe/actors/actor_system.hpp"
#include "troupe/observe/metrics_server.hpp"
#include "troupe/transport/node.hpp"

namespace troupe::transport {

class node_impl {
 public:
  node_impl(actor_system& sys, node_options opts);
  ~node_impl();
  node_impl(const node_impl&) = delete;
  node_impl& operator=(const node_impl&) = delete;

  /// Closes every connection (peers see a goodbye) and joins the I/O thread.
  void stop();
  [[nodiscard]] bool stopping() const noexcept { return stopping_.load(); }

  /// Dials `where` and waits for the connection (or why there is none).
  result<peer> connect(dial_address where, std::chrono::milliseconds timeout);
  /// Dials `where`; the outcome goes to `done`, once, on the I/O thread
  /// (or the caller's, when the node is stopping).
  void connect_then(dial_address where, std::chrono::milliseconds timeout, std::function<void(result<peer>)> done);
  /// A finished dial as a connect() result.
  static result<peer> outcome(const dial_state& waiter);
  /// Every blocking call (`what`) starts here. @throws std::logic_error on
  /// the I/O thread (inside a transport callback it would wait for itself);
  /// from an actor's turn it blocks a worker: logged, once per process.
  void blocking_call(const char* what);
  /// Runs a connection over descriptors this process has (read == write:
  /// one stream socket).
  result<peer> adopt(int read_fd, int write_fd, bool initiator, std::chrono::milliseconds timeout,
                     int worker_pid = -1);
  /// Runs a connection over `stream` and waits until it is up or failed.
  result<peer> adopt_stream(std::unique_ptr<byte_stream> stream, bool initiator, std::chrono::milliseconds timeout,
                            int worker_pid = -1);
  std::optional<peer> find_peer(std::string_view name) const;
  /// Messages in flight on every registered connection (node_stats::messages_in_flight).
  [[nodiscard]] std::uint64_t messages_in_flight() const;

  // -- for connections (the I/O thread) --
  /// Makes a connection over `stream` and starts it; an accepted one past
  /// max_handshakes (or max_handshakes_per_address) evicts the oldest
  /// stranger still in its handshake.
  void start_connection(std::unique_ptr<byte_stream> stream, handshake::role role, std::optional<dial_target> target,
                        std::shared_ptr<dial_state> waiter, int worker_pid = -1, bool accepted = false);
  /// The acceptor decides whether an authenticated peer may connect: an
  /// empty string admits it, anything else is the refusal's reason.
  std::string admit(connection& c);
  /// True when `newer` (authenticated, same name and incarnation) replaces
  /// `existing`, a connection its peer has lost. Under mx_ (admit).
  bool replaces_lost(const connection& existing, const connection& newer) const;
  /// Registers an established connection; false when it lost to a
  /// duplicate (both nodes dialled each other) and has been closed.
  bool connection_up(const std::shared_ptr<connection>& c);
  std::shared_ptr<connection> find_connection(const std::string& name) const;
  /// The registered session `session` with the peer `name` of `incarnation`, if we hold it.
  std::shared_ptr<connection> session_for(const std::string& name, std::uint64_t incarnation,
                                          std::uint64_t session) const;
  /// A handshake ended by handing its stream to a session: it is forgotten.
  void handshake_over(connection& c);
  /// A reliable link lost its carrier: a dialled peer is dialled again.
  void link_interrupted(connection& c);
  /// True while an interrupted link dialled at `where` waits to resume.
  [[nodiscard]] bool awaits_resume(const dial_address& where) const;
  /// A redial of `where` was refused: an interrupted link to it ends (the peer is gone).
  void dial_refused(const dial_address& where, const std::string& why);
  /// A connection ended: dialled peers are dialled again; `waiter` is a
  /// connect() that goes on (refused_stale).
  void connection_down(connection& c, bool was_established, const std::string& reason,
                       std::shared_ptr<dial_state> waiter = nullptr);
  /// A worker's connection ended: how its process ended.
  std::string worker_exit(int pid, const std::string& reason) { return workers.exit_of(pid, reason); }


  actor_system& sys;
  detail::system_core& core;
  node_options opts;
  std::string cookie;
  std::uint64_t incarnation = 0;
  asio::io_context io;
  node_counters counters;
  log_limiter log_limit;
  actor_directory directory;
  node_events events;
  listeners listen;
  dialer dial;
  worker_processes workers;
  /// Wrong cookies by source address: the wait they cost the next connection.
  auth_penalties penalties;
  /// node_options::tls loaded (null when TLS is off); streams share it.
  std::shared_ptr<tls_context> tls;
  /// Connections ended, by why (troupe_link_closes_total).
  std::array<std::atomic<std::uint64_t>, close_reason_count> closes{};
  /// node_options::metrics: the endpoint (null when off).
  std::unique_ptr<metrics_server> metrics_endpoint;

  // -- what a node requires of a link's other end (link_security.cpp) --
  /// The stream over a connected TCP socket: TLS when node_options::tls is
  /// set (`connector`: the dialling side; `session_key`: the dial address,
  /// whose TLS session a redial resumes). The I/O thread.
  std::unique_ptr<byte_stream> tcp_stream(asio::ip::tcp::socket sock, bool connector, std::string session_key);
  /// True when the other end of the Unix socket `fd` runs as a user
  /// node_options::local_peer_uids allows; else counted, logged (limited)
  /// and false: the caller closes it. `where` names it for the log.
  bool local_peer_allowed(int fd, const std::string& where);
  /// Loads the TLS files again (see node::reload_tls); `force`: even when unchanged.
  result<bool> reload_tls(bool force);

 private:
  result<peer> await(dial_state& waiter, const std::string& where, std::chrono::milliseconds timeout);
  void arm_metrics_log();
  void log_metrics();
  /// This node's families: its counters, and each established link's (node_metrics.cpp).
  void write_metrics(metrics_writer& w) const;
  std::uint64_t metrics_source_ = 0;
  /// The interrupted links this node dialled at `where`.
  std::vector<std::shared_ptr<connection>> interrupted_at(const dial_address& where) const;
  /// Waits (up to a second) for messages already sent to go out.
  void drain_output();
  /// On the I/O thread: every connection says goodbye; the listeners close.
  void close_all();
  /// (under mx_) The proxies `c`, a session that serves, carries on: those
  /// an earlier session with the same incarnation left (returned: `c` took
  /// them over), or its own, remembered for the next. `gone`: the proxies of
  /// an incarnation that `c`'s replaced.
  std::shared_ptr<proxy_table> carry_proxies_locked(const std::shared_ptr<connection>& c,
                                                    std::shared_ptr<proxy_table>& gone);
  /// Every proxy of a table that is over for good closes (node_down, `why`).
  static void close_proxies(proxy_table& t, const std::string& why);

  /// Looks at the TLS files every tls->reload_check and loads them when changed.
  void arm_tls_reload();

  std::unique_ptr<asio::steady_timer> metrics_timer_;
  std::unique_ptr<asio::steady_timer> tls_timer_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;

  mutable std::mutex mx_;
  std::unordered_map<std::string, std::shared_ptr<connection>> connections_;  // established, by peer name
  handshake_table handshaking_{opts.max_handshakes, opts.max_handshakes_per_address};
  std::vector<std::shared_ptr<connection>> ended_;  // closed by stop(), until their proxies have closed
  /// By peer name, the proxies of the incarnation last connected, which the
  /// next session with it carries on (handles made before a node_down work
  /// again). Weak: the proxies' handles keep them.
  struct known_peer {
    std::uint64_t incarnation = 0;
    std::weak_ptr<proxy_table> proxies;
  };
  std::unordered_map<std::string, known_peer> known_;
};

} // namespace troupe::transport
