#pragma once
/// @file A node: this process's presence on the network. It listens on a
/// TCP endpoint, connects to other nodes, authenticates them, publishes
/// local actors under names and hands out handles to remote ones, which
/// are plain `actor_ref<A>` values with the same tell and ask.

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <typeinfo>
#include <vector>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/actor_system.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/decoders.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/transport/node_options.hpp"

namespace boost::asio {
class io_context;
}

namespace troupe {

struct worker_options;

namespace transport {
class node_impl;
class connection;
struct peer_access;
} // namespace transport

/// Counters of one node (a snapshot).
struct node_stats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_dialed = 0;
  std::uint64_t sessions_up = 0;           ///< handshakes completed
  std::uint64_t sessions_down = 0;         ///< established connections that ended
  std::uint64_t handshake_failures = 0;    ///< refused or broken handshakes (wrong cookie, version, garbage)
  std::uint64_t auth_failures = 0;         ///< of which: wrong cookie
  std::uint64_t handshake_timeouts = 0;    ///< connections that never finished the handshake
  std::uint64_t bad_frames = 0;            ///< connections closed for a bad frame after the handshake
  std::uint64_t heartbeat_timeouts = 0;    ///< peers declared down for silence
  std::uint64_t write_stalls = 0;          ///< peers cut off for not reading what was sent to them (write_timeout, or too much unsent)
  std::uint64_t messages_out = 0;
  std::uint64_t messages_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t writes = 0;                ///< buffers handed to the stream (a syscall for sockets and pipes, a ring copy for shared memory)
  std::uint64_t frames_out = 0;            ///< frames queued for peers (messages, replies, control)
  std::uint64_t frames_in = 0;             ///< frames read from peers
  std::uint64_t reconnects = 0;            ///< dials again: to resume an interrupted link, or after a peer this node connected to went down
  std::uint64_t stale_links_replaced = 0;  ///< connections a peer had lost (it redialled) replaced by its new one
  std::uint64_t credit_stalls = 0;         ///< remote actors whose senders waited for flow credit longer than heartbeat_timeout (a slow receiver, or credit lost)
  std::uint64_t dials_refused = 0;         ///< dials refused because the peer still held a connection this node had lost (dialled again)
  std::uint64_t links_interrupted = 0;     ///< reliable links broken by a transport fault, waiting to resume
  std::uint64_t links_resumed = 0;         ///< interrupted links resumed on a new connection (nothing lost)
  std::uint64_t frames_resent = 0;         ///< frames written again on a resumed link (the peer had not got them)
  std::uint64_t out_of_sequence = 0;       ///< frames that arrived out of sequence (lost, repeated or reordered on the wire): the connection ended
  std::uint64_t unacknowledged_lost = 0;   ///< messages a peer never acknowledged when its session ended for good (also counted as node_down dead letters)
  std::uint64_t messages_acknowledged = 0; ///< messages the peer acknowledged (or, without a resend buffer, the stream took)
  std::uint64_t transfers_out = 0;         ///< shared_bytes handed to same-host peers without a copy
  std::uint64_t transfers_back = 0;        ///< of those, given back by the peer (their memory is reused)
  std::uint64_t handshakes_evicted = 0;    ///< connections closed in their handshake to make room for newer ones (max_handshakes, max_handshakes_per_address)
  std::uint64_t accept_failures = 0;       ///< accepts that failed (out of descriptors: the listener sheds one connection and backs off)
  std::uint64_t remote_control_refused = 0; ///< STOPs and LINKs from peers refused: the actor's publication does not allow them
  std::uint64_t tls_handshakes = 0;        ///< TLS handshakes completed in full (node_options::tls)
  std::uint64_t tls_resumed = 0;           ///< TLS handshakes that resumed a session from a ticket
  std::uint64_t tls_failures = 0;          ///< TLS connections refused or broken: a bad or missing certificate, a plaintext or older-TLS peer, a certificate not naming the peer, a record that did not authenticate
  std::uint64_t local_peers_refused = 0;   ///< Unix-socket and shared-memory peers refused for their user id (node_options::local_peer_uids)
  /// Not a counter: messages queued for peers or in resend buffers now,
  /// neither acknowledged nor lost. Every message sent is in one place:
  /// messages_out == messages_acknowledged + messages_in_flight +
  /// unacknowledged_lost (exactly, when no sender is mid-turn).
  std::uint64_t messages_in_flight = 0;
};

/// A new session with a peer came up: the first with this incarnation of
/// it, or one after a node_down. Handles to that incarnation's actors made
/// before work again (they were rebound before this event); monitors and
/// links set before the node_down have fired: set them again.
/// (node::subscribe)
struct node_up {
  std::string name;
  std::uint64_t incarnation = 0;
};
/// The session with a peer ended: handles to its actors report node_down
/// (`tell` says dead) until a new session with the same incarnation comes
/// up, its monitors and links fired. `reason` says why (as in the log).
struct node_down {
  std::string name;
  std::uint64_t incarnation = 0;
  std::string reason;
};
/// The session with a peer resumed on a new connection after a transport
/// fault (reliable delivery): nothing was lost, handles, monitors and
/// pending asks made before go on working.
struct node_reconnected {
  std::string name;
  std::uint64_t incarnation = 0;
};

/// What other nodes may do to a published actor beyond sending it
/// messages and monitoring it (node::publish). Combine with `|`.
enum class remote_control : unsigned char {
  none = 0,
  stop = 1,  ///< stop or kill it (`ref.stop()`, `ref.kill()` on a remote handle)
  link = 2,  ///< link an actor of theirs to it (and so stop it when theirs stops, or their node goes)
  all = 3,
};
[[nodiscard]] constexpr remote_control operator|(remote_control a, remote_control b) noexcept {
  return static_cast<remote_control>(static_cast<unsigned char>(a) | static_cast<unsigned char>(b));
}
/// True when `granted` includes every right in `wanted`.
[[nodiscard]] constexpr bool allows(remote_control granted, remote_control wanted) noexcept {
  return (static_cast<unsigned char>(granted) & static_cast<unsigned char>(wanted)) == static_cast<unsigned char>(wanted);
}

/// Another node this node has a connection with (or had: a handle outlives
/// the connection; then `alive()` is false and lookups fail with node_down,
/// until a new session with the same incarnation of that node serves it
/// again). A value: cheap to copy, safe to share. Made by `node`.
class peer {
 public:
  peer() = default;
  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] std::uint64_t incarnation() const noexcept;
  [[nodiscard]] bool alive() const noexcept;
  explicit operator bool() const noexcept { return static_cast<bool>(s_); }

  /// The actor published under `name` on that node, as a handle of type A:
  /// its actor type, or an interface (troupe::interface) it satisfies.
  /// Blocks up to `timeout`: call it from a thread outside the actor system
  /// (main, a test, an inbox thread), not from a handler.
  /// Fails with `errc::not_published` when nothing is published under
  /// `name`, `errc::interface_mismatch` when the published actor is not an A
  /// (or does not accept every type of interface A), `ask_error::node_down`
  /// when the peer is gone, `ask_error::timeout`. A call from an actor's
  /// turn blocks its worker: it is logged (once per process); use the
  /// continuation form there.
  template <class A>
  [[nodiscard]] result<actor_ref<A>> lookup(std::string_view name, std::chrono::milliseconds timeout) const {
    return as_ref<A>(lookup_cell(name, typeid(A), detail::required_names<A>(), timeout));
  }

  /// lookup() without blocking: the outcome arrives in the future. @threadsafe
  template <class A>
  [[nodiscard]] std::future<result<actor_ref<A>>> lookup_async(std::string_view name,
                                                               std::chrono::milliseconds timeout) const {
    auto p = std::make_shared<std::promise<result<actor_ref<A>>>>();
    auto f = p->get_future();
    lookup_then<A>(name, timeout, [p](result<actor_ref<A>> r) { p->set_value(std::move(r)); });
    return f;
  }

  /// lookup() from an actor's handler, never blocking its worker:
  /// `on_done(result<actor_ref<A>>)` runs later on this actor's turn
  /// (exactly once, unless the actor stops first).
  /// @throws std::logic_error outside an actor's turn.
  template <class A, class F>
  void lookup(std::string_view name, std::chrono::milliseconds timeout, F&& on_done) const {
    static_assert(std::is_invocable_v<F&, result<actor_ref<A>>>,
                  "troupe: the continuation must be callable with troupe::result<troupe::actor_ref<A>>.");
    if (timeout.count() < 0) throw std::invalid_argument("troupe::peer::lookup: timeout must not be negative");
    lookup_then<A>(name, timeout, detail::continuation_here<actor_ref<A>>(std::forward<F>(on_done), "peer::lookup"));
  }

  /// lookup() with its outcome handed to `done`, once, on whichever thread
  /// ends it (a transport thread, or this one when the peer is down): keep
  /// it short and never block in it (a blocking lookup, connect or
  /// start_worker there throws std::logic_error). The future and
  /// continuation forms are built on it. @threadsafe
  template <class A>
  void lookup_then(std::string_view name, std::chrono::milliseconds timeout,
                   std::function<void(result<actor_ref<A>>)> done) const {
    lookup_cell_then(name, typeid(A), detail::required_names<A>(), timeout,
                     [done = std::move(done)](result<detail::cell_ptr> r) { done(as_ref<A>(std::move(r))); });
  }

  /// A handle to actor `id` of that node without asking it (ids travel in
  /// messages, see node::address_of). Sends to an id that does not exist,
  /// or is not published, become dead letters on that node.
  template <class A>
  [[nodiscard]] actor_ref<A> resolve(std::uint64_t id) const {
    detail::cell_ptr c = resolve_cell(id, typeid(A));
    return c ? actor_ref<A>::from_cell(c.get()) : actor_ref<A>();
  }

  /// Ends the connection with a goodbye; its handles then report node_down.
  /// @threadsafe
  void close(const std::string& reason = "closed") const;
  /// Blocks until the connection has ended. @threadsafe
  void wait_down() const;

  friend bool operator==(const peer& a, const peer& b) noexcept { return a.s_ == b.s_; }

 private:
  friend struct transport::peer_access;
  explicit peer(std::shared_ptr<transport::connection> c) noexcept : s_(std::move(c)) {}
  [[nodiscard]] result<detail::cell_ptr> lookup_cell(std::string_view name, const std::type_info& type,
                                                     std::vector<std::string> required,
                                                     std::chrono::milliseconds timeout) const;
  /// The lookup, with its outcome handed to `done` (any thread, once).
  void lookup_cell_then(std::string_view name, const std::type_info& type, std::vector<std::string> required,
                   std::chrono::milliseconds timeout, std::function<void(result<detail::cell_ptr>)> done) const;
  template <class A>
  static result<actor_ref<A>> as_ref(result<detail::cell_ptr> r) {
    if (!r.ok()) return failure{r.error(), std::string(r.message())};
    return actor_ref<A>::from_cell(r.value().get());
  }
  [[nodiscard]] detail::cell_ptr resolve_cell(std::uint64_t id, const std::type_info& type) const;
  std::shared_ptr<transport::connection> s_;
};

/// This process's node. Create it after the actor_system and destroy it
/// before (it stops first: every remote handle then reports node_down).
class node {
 public:
  /// Starts the node's I/O thread and, unless `opts.listen` is false,
  /// listens. @throws std::invalid_argument for a bad option,
  /// std::runtime_error when the cookie cannot be loaded or the endpoint
  /// cannot be bound.
  explicit node(actor_system& sys, node_options opts = {});
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  [[nodiscard]] const std::string& name() const noexcept;
  /// Random per node start: a restarted process is a new incarnation.
  [[nodiscard]] std::uint64_t incarnation() const noexcept;
  /// The port it listens on (0 when not listening).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// The port of the metrics endpoint (node_options::metrics), 0 when off.
  [[nodiscard]] std::uint16_t metrics_port() const noexcept;
  /// The address it listens on (node_options::listen_host; empty when not
  /// listening).
  [[nodiscard]] std::string listen_host() const;

  /// Connects to the node at host:port and completes the handshake, or
  /// fails with the reason: `errc::io_error` (nobody listens, no route, a
  /// name that does not resolve), `errc::auth_failed` (the cookies differ),
  /// `errc::refused` (the other node refused: version, name, too many
  /// handshakes), `errc::shutting_down`, `ask_error::timeout`. Returns the
  /// existing connection when already connected to it.
  /// Blocks: call from outside the actor system (a call from an actor's
  /// turn blocks its worker and is logged, once per process). @threadsafe
  [[nodiscard]] result<peer> connect(const std::string& host, std::uint16_t port,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// connect() without blocking: the outcome arrives in the future. @threadsafe
  [[nodiscard]] std::future<result<peer>> connect_async(const std::string& host, std::uint16_t port,
                                                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// connect() from an actor's handler, never blocking its worker:
  /// `on_done(result<peer>)` runs later on this actor's turn (exactly once,
  /// unless the actor stops first). @throws std::logic_error outside an
  /// actor's turn.
  template <class F>
  void connect(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout, F&& on_done) {
    connect_then(host, port, timeout, here(std::forward<F>(on_done), timeout, "node::connect"));
  }

  /// connect() with its outcome handed to `done`, once, on whichever
  /// thread ends it (the node's I/O thread, or this one when it fails at
  /// once): keep it short and never block in it (see
  /// peer::lookup_then). connect_async and the continuation form are built
  /// on it. @threadsafe
  void connect_then(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                    std::function<void(result<peer>)> done);

  /// The same over a Unix socket (a node listening with `listen_unix`).
  [[nodiscard]] result<peer> connect_unix(const std::string& path,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// connect_unix() without blocking: the outcome arrives in the future. @threadsafe
  [[nodiscard]] std::future<result<peer>> connect_unix_async(const std::string& path,
                                                             std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// connect_unix() from an actor's handler, as connect() with a continuation.
  template <class F>
  void connect_unix(const std::string& path, std::chrono::milliseconds timeout, F&& on_done) {
    local_connect_then(false, path, timeout, here(std::forward<F>(on_done), timeout, "node::connect_unix"));
  }

  /// The same over shared memory, with a node listening with `listen_shm`
  /// on this host: the handshake runs over the Unix socket at `path`, then
  /// this node makes the segment (two rings of `shm_ring_bytes`) and passes
  /// it with SCM_RIGHTS; messages then go through the rings, with no system
  /// call per message while both sides are busy. Reconnects like connect().
  [[nodiscard]] result<peer> connect_shm(const std::string& path,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// connect_shm() without blocking: the outcome arrives in the future. @threadsafe
  [[nodiscard]] std::future<result<peer>> connect_shm_async(const std::string& path,
                                                            std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// connect_shm() from an actor's handler, as connect() with a continuation.
  template <class F>
  void connect_shm(const std::string& path, std::chrono::milliseconds timeout, F&& on_done) {
    local_connect_then(true, path, timeout, here(std::forward<F>(on_done), timeout, "node::connect_shm"));
  }

  /// Runs a connection over descriptors this process already has: one stream
  /// socket (`read_fd == write_fd`, e.g. a socketpair end) or a pipe pair
  /// (e.g. inherited across fork/exec). The node owns them from now on.
  /// Exactly one side passes `initiator = true`. No reconnect: when the
  /// stream ends, the peer is down for good. A closed pipe shows as a write
  /// error, never as SIGPIPE (the process's disposition is left alone).
  /// @throws std::invalid_argument for a bad descriptor (which is closed).
  [[nodiscard]] result<peer> adopt(int read_fd, int write_fd, bool initiator,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// Starts a worker process connected over shared memory or a socketpair
  /// (worker_options::link): its connection and process id; fails with
  /// `errc::io_error` (fork, pipe, socketpair, memfd), `errc::shutting_down`
  /// or `ask_error::timeout`. Use troupe::spawn_worker (worker.hpp), which also looks up
  /// its root actor.
  [[nodiscard]] result<std::pair<peer, int>> start_worker(const worker_options& opts);
  /// start_worker() with its outcome handed to `done`, once, on a transport
  /// thread (or this one when it fails at once): keep it short and never
  /// block in it (see peer::lookup_then). spawn_worker_async and the continuation form of
  /// spawn_worker are built on it. @threadsafe
  void start_worker_then(const worker_options& opts, std::function<void(result<std::pair<peer, int>>)> done);

  /// The connection with the node called `name`, if there is one now.
  [[nodiscard]] std::optional<peer> find_peer(std::string_view name) const;

  /// Publishes `ref` under `name`: other nodes may look it up, send it the
  /// messages its `remote_interface` lists and monitor it. Stopping it and
  /// linking to it from another node are refused (logged, counted in
  /// `remote_control_refused`) unless `allow` says so. Replaces an earlier
  /// publication of the same name. Once the actor stops for good the
  /// publication goes: lookups fail with not_published, and remote
  /// senders' handles report it stopped (`tell` says dead). A supervisor's
  /// restart in place is not a stop. @threadsafe
  template <class A>
  void publish(std::string name, const actor_ref<A>& ref, remote_control allow = remote_control::none) {
    publish_cell(std::move(name), ref.cell(), typeid(A), detail::decoders_of<A>(), allow);
  }
  /// Makes `ref` reachable by id (without a name), e.g. to send its
  /// address in a message; `allow` as for publish. @threadsafe
  template <class A>
  void expose(const actor_ref<A>& ref, remote_control allow = remote_control::none) {
    publish_cell({}, ref.cell(), typeid(A), detail::decoders_of<A>(), allow);
  }
  /// Removes a publication (the actor stays reachable by id until it stops).
  void unpublish(std::string_view name);

  /// From now on, tells `to` of every peer's node_up, node_down and
  /// node_reconnected (not of connections made before), until it stops.
  /// Events come in the order they happened. @threadsafe
  template <class A>
  void subscribe(const actor_ref<A>& to) {
    static_assert(handles<A, node_up> && handles<A, node_down> && handles<A, node_reconnected>,
                  "troupe: a subscriber needs handlers on(troupe::node_up), on(troupe::node_down) and "
                  "on(troupe::node_reconnected)");
    subscribe_cell(to.cell(), [to](const node_up& u) { to.tell(u); }, [to](const node_down& d) { to.tell(d); },
                   [to](const node_reconnected& r) { to.tell(r); });
  }

  [[nodiscard]] node_stats stats() const noexcept;

  /// Loads node_options::tls's files again now (a rotated certificate, a
  /// new revocation list): true once new connections use them. Connections
  /// up keep theirs; session tickets from before are no longer honoured.
  /// Fails (errc::refused, saying why) when TLS is off or a file is bad;
  /// the credentials in use then stay. The node also looks at the files
  /// every `tls.reload_check`. @threadsafe
  [[nodiscard]] result<bool> reload_tls();

 private:
  friend boost::asio::io_context& io_context_of(node& n) noexcept;
  friend std::optional<int> run_worker_if_asked(int argc, char** argv, const std::function<void(actor_system&, node&, const std::vector<std::string>&)>& init);
  /// In a worker: the parent's link, inherited as descriptors first_fd (control) and first_fd + 1 (segment).
  [[nodiscard]] result<peer> adopt_shm_worker_link(int first_fd, std::chrono::milliseconds timeout);
  void publish_cell(std::string name, detail::actor_cell* c, const std::type_info& type,
                    std::vector<detail::message_decoder> accepts, remote_control allow);
  /// connect_unix (`shm` false) or connect_shm with its outcome handed to `done`, once, on any thread.
  void local_connect_then(bool shm, const std::string& path, std::chrono::milliseconds timeout,
                          std::function<void(result<peer>)> done);
  /// A continuation form's `on_done`, to run on the calling actor's turn.
  /// @throws std::logic_error outside an actor's turn, std::invalid_argument for a negative timeout
  template <class F>
  static std::function<void(result<peer>)> here(F&& on_done, std::chrono::milliseconds timeout, const char* what) {
    static_assert(std::is_invocable_v<F&, result<peer>>,
                  "troupe: the continuation must be callable with troupe::result<troupe::peer>.");
    if (timeout.count() < 0) throw std::invalid_argument(std::string("troupe::") + what + ": timeout must not be negative");
    return detail::continuation_here<peer>(std::forward<F>(on_done), what);
  }
  void subscribe_cell(detail::actor_cell* c, std::function<void(const node_up&)> up,
                      std::function<void(const node_down&)> down,
                      std::function<void(const node_reconnected&)> reconnected);
  std::shared_ptr<transport::node_impl> impl_;
};

} // namespace troupe
