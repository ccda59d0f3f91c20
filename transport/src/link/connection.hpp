#pragma once
// Private to the transport: one connection to a peer node, from its first
// byte through the handshake to its end. It is a handful of parts, each
// owning one thing; this class holds them, runs the lifecycle and answers
// what the parts ask of it.
//
// | part              | owns                                                  | who runs it                          |
// |-------------------|-------------------------------------------------------|--------------------------------------|
// | lifecycle (here)  | handshake, heartbeat timer, established/closed, end() | the node's I/O thread                |
// | session (resume.cpp) | numbers read, ACKs, suspend, resume on a new carrier | the reader; the I/O thread        |
// | frame_reader      | read buffer, splitting, the handshake's frame limit    | the I/O thread, or the read token's holder (polled shm: any idle worker) |
// | inbound_path      | message dispatch: types, receivers, credit accounts    | the reader                           |
// | control handlers  | one short handler per control frame (control.cpp)      | the reader                           |
// | frame_writer      | write buffers, water marks, stall detection, parked proxies | under the write lock (proxy turns, the reader's answers, the I/O thread) |
// | outbound_path     | a proxy turn's frames; outgoing types                  | proxy turns, under the write lock    |
// | proxy_table       | the proxies, and their send windows (flow credit)      | its own lock; any thread             |
// | requests          | asks sent and lookups waited on                        | its own lock; any thread             |
// | lent_buffers      | shared_bytes lent to a same-host peer                  | its own lock; any thread             |
//
// Any thread may post a whole frame (post_frame): it goes through the
// outbox, a proxy with remote id 0, in order with the other posted frames.
//
// With reliable delivery a connection is a session that outlives its
// carriers (resume.cpp): a transport fault interrupts it (suspend), the
// side that dialled dials again, and the handshake of the new connection
// hands its stream over (resume_from), after which the writer resends what
// the peer did not acknowledge. Proxies, asks, credit and type tables stay
// as they were; only a session that does not come back ends.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>

#include "link/close_reason.hpp"
#include "link/log.hpp"
#include "link/frame_poster.hpp"
#include "link/frame_reader.hpp"
#include "link/frame_writer.hpp"
#include "link/inbound.hpp"
#include "link/outbound.hpp"
#include "link/peer_watches.hpp"
#include "link/proxy_table.hpp"
#include "link/requests.hpp"
#include "link/transfers.hpp"
#include "node/dial_target.hpp"
#include "protocol/handshake.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/scheduler/idle_poller.hpp"

namespace troupe::transport {

namespace asio = boost::asio;
class node_impl;

/// The acceptor's refusal of a second connection from a peer it has one with.
extern const char* const already_connected;

/// The type of a connection's outbox proxy (remote id 0).
struct outbox_tag {};
/// The type of a proxy a peer's LINK made (the linking actor's type is not known here).
struct linked_actor_tag {};

/// Answers the peer's asks: the encoded replies go through the connection's
/// outbox while it lives.
std::shared_ptr<detail::wire_asker> make_asker(std::weak_ptr<connection> c);

/// Where a peer that said it listens at `host`:`port` (its HELLO) can be
/// dialled from here, seen connecting from `seen_from` (a TCP link's remote
/// address; empty for other streams): nothing when it does not listen, the
/// host is a name, or it listens on its loopback and is not on this host.
/// A wildcard host means the address it connects from.
[[nodiscard]] std::optional<asio::ip::tcp::endpoint> reachable_listener(const std::string& host, std::uint16_t port,
                                                                        const std::string& seen_from);

class connection final : public writer_host,
                         public frame_poster,
                         public idle_poller,
                         public std::enable_shared_from_this<connection> {
 public:
  connection(node_impl& node, std::unique_ptr<byte_stream> stream, handshake::role role,
             std::optional<dial_target> dial, std::shared_ptr<dial_state> waiter);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // -- lifecycle: the I/O thread --
  /// Sends HELLO, starts reading and the handshake timer.
  void start();
  /// Ends the connection: says GOODBYE first when the reason says so,
  /// counts and logs it from the close_reason table, closes the stream;
  /// when established, the peer is down for every proxy, ask and lookup.
  /// Idempotent.
  void end(close_reason why, const std::string& detail = {});
  /// Drops a connection that never started (closes its stream quietly).
  void abandon();
  /// Ends the connection from any thread (posted to the I/O thread). @threadsafe
  void end_soon(close_reason why, std::string detail = {}) noexcept;
  [[nodiscard]] const std::optional<dial_target>& dialled() const noexcept { return dial_; }
  /// True when this connection was refused as a second one to a peer
  /// already connected (the existing one serves instead).
  [[nodiscard]] bool duplicate() const noexcept { return duplicate_; }
  /// True when a connect() call made this connection (not a reconnect).
  [[nodiscard]] bool has_waiter() const noexcept { return user_dial_; }
  /// True when the peer refused this dial because it still holds a
  /// connection with us that we lost: it is dialled again (connect() too).
  [[nodiscard]] bool refused_stale() const noexcept { return refused_stale_; }
  /// The peer dialled this connection.
  [[nodiscard]] bool was_accepted() const noexcept { return hs_.side() == handshake::role::acceptor; }
  /// How long nothing has been read from the peer. @threadsafe
  [[nodiscard]] std::chrono::steady_clock::duration silent_for() const noexcept {
    return std::chrono::steady_clock::now() - reader_.last_read();
  }
  /// The peer dialled this connection and said it holds no other with us:
  /// any other we hold is one it lost. @note During the handshake only.
  [[nodiscard]] bool peer_redialled() const noexcept { return was_accepted() && !hs_.peer_holds_link(); }
  /// The node admitted this connection to replace `lost`, one the peer had
  /// lost (compared, never dereferenced, later). The I/O thread, in the handshake.
  void replace(const connection* lost) noexcept { replaces_ = lost; }
  [[nodiscard]] const connection* replaces() const noexcept { return replaces_; }
  /// The connection is a worker process's: its end reports the exit status.
  void set_worker_pid(int pid) noexcept { worker_pid_ = pid; }
  /// A listener accepted the connection (its peer can dial again).
  void set_from_listener() noexcept { from_listener_ = true; }

  // -- the session (reliable delivery, resume.cpp) --
  /// The session's id (0 before established).
  [[nodiscard]] std::uint64_t session() const noexcept { return session_; }
  /// The session can move to a new carrier (reliable delivery, a socket
  /// that can be dialled again). Set when established.
  [[nodiscard]] bool resumable() const noexcept { return resumable_; }
  /// True while the link waits for a new connection to resume on. @threadsafe
  [[nodiscard]] bool suspended() const noexcept { return suspended_.load(std::memory_order_acquire); }
  /// The number of the last frame handled from the peer. @threadsafe
  [[nodiscard]] std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }
  /// `carrier`, a connection whose handshake resumes this session, hands
  /// its stream over (`last`: its last handshake frame, after which its
  /// reader may hold our frames). The I/O thread, in that handshake.
  void resume_from(connection& carrier, const frame_view& last);
  /// An interrupted link whose peer is gone for good (evidence: its
  /// address refuses connections) ends now. The I/O thread.
  void peer_gone(const std::string& evidence);
  /// Where the peer accepts TCP connections, as its HELLO said, when this
  /// node can reach it there (probed while a session it dialled waits).
  /// Set when established; the I/O thread.
  [[nodiscard]] const std::optional<asio::ip::tcp::endpoint>& peer_listener() const noexcept { return peer_listener_; }
  /// Counts the carriers the session has lost (a probe started for one stops at the next). The I/O thread.
  [[nodiscard]] std::uint64_t carrier() const noexcept { return carrier_; }

  // -- any thread --
  [[nodiscard]] const std::string& peer_name() const noexcept { return peer_name_; }
  /// This link's counters (every count also goes to the node's). @threadsafe
  [[nodiscard]] link_counters& counters() noexcept { return counters_; }
  [[nodiscard]] const link_counters& counters() const noexcept { return counters_; }
  /// The last heartbeat round trip in nanoseconds, or -1 before the first
  /// (or with a peer that does not answer heartbeats). @threadsafe
  [[nodiscard]] std::int64_t rtt_ns() const noexcept { return rtt_ns_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t peer_incarnation() const noexcept { return peer_incarnation_; }
  [[nodiscard]] bool alive() const noexcept { return alive_.load(std::memory_order_acquire); }
  /// The largest frame sent to the peer: what it accepts, and never more
  /// than this node does (set before anything is sent to it).
  [[nodiscard]] std::uint32_t peer_max_frame() const noexcept { return peer_max_frame_; }
  [[nodiscard]] const std::string& remote_endpoint() const noexcept { return endpoint_; }
  /// Where the connection comes from, as handshake bounds count it: the
  /// peer's IP address over TCP, else the stream's description.
  [[nodiscard]] const std::string& source_address() const noexcept { return source_; }
  /// Asks the peer what is published as `name`; blocks up to `timeout`.
  result<detail::cell_ptr> lookup(std::string_view name, const std::type_info& type,
                                  const std::vector<std::string>& required, std::chrono::milliseconds timeout);
  /// The same without blocking: `done` runs once, on the thread that ends
  /// the lookup (the reader's, the I/O thread's, or this one's when the
  /// connection is down).
  void lookup_then(std::string_view name, const std::type_info& type, std::vector<std::string> required,
                   std::chrono::milliseconds timeout, std::function<void(result<detail::cell_ptr>)> done);
  /// The proxy of the peer's actor `id` (made when there is none).
  detail::cell_ptr proxy_for(std::uint64_t id, const std::type_info& type);
  bool post_frame(std::string frame) override;
  /// True while messages for the peer wait in a proxy or a buffer.
  [[nodiscard]] bool has_pending_output();
  /// Blocks until the connection has ended.
  void wait_ended();
  /// After the end: true once every proxy has closed (run its node_down).
  /// The proxies of the peer's incarnation (shared with the sessions before
  /// and after this one).
  [[nodiscard]] const std::shared_ptr<proxy_table>& shared_proxies() const noexcept { return proxies_; }
  /// This session carries on the proxies of an earlier one with the same
  /// incarnation: false when it made proxies of its own already. The I/O
  /// thread, as the session comes up (before anyone else can see it).
  bool take_proxies(std::shared_ptr<proxy_table> earlier);
  /// This connection while it lives, else the session that serves the same
  /// incarnation of the peer now (if any): what a `peer` handle acts on.
  [[nodiscard]] std::shared_ptr<connection> current();
  /// What this session's proxies hand their messages to.
  [[nodiscard]] std::shared_ptr<detail::proxy_link> as_link() {
    return std::shared_ptr<detail::proxy_link>(shared_from_this(), &outbound_);
  }

  // -- for the parts --
  [[nodiscard]] node_impl& node() const noexcept { return node_; }
  [[nodiscard]] detail::system_core& core() const noexcept { return *core_; }
  [[nodiscard]] byte_stream& stream() noexcept { return *stream_; }
  [[nodiscard]] frame_writer& writer() noexcept { return writer_; }
  /// The monitors the peer holds on this node's actors (see peer_watches).
  [[nodiscard]] peer_watches& watches() noexcept { return watches_; }
  [[nodiscard]] proxy_table& proxies() noexcept { return *proxies_; }
  [[nodiscard]] requests& pending() noexcept { return requests_; }
  [[nodiscard]] lent_buffers& lent() noexcept { return lent_; }
  /// Shared memory: messages are polled, and buffers lent rather than copied.
  [[nodiscard]] bool polled() const noexcept { return polled_; }
  [[nodiscard]] const std::shared_ptr<bytes_lender>& lender() const noexcept { return lender_; }
  [[nodiscard]] const std::shared_ptr<detail::wire_asker>& asker() const noexcept { return asker_; }
  [[nodiscard]] std::weak_ptr<frame_poster> poster() { return std::static_pointer_cast<frame_poster>(shared_from_this()); }
  /// The reader ends the connection for a bad frame; returns false (to stop reading).
  bool bad_frame(std::string detail);
  /// The reader answers an ask of the peer with an error, after the
  /// messages read before it reached their actors.
  void reply_error_now(std::uint64_t request, ask_error code, const std::string& message);
  /// The outbox (made on first use, freed when nobody needs it): the
  /// session's own, never carried to the next. @throws std::bad_alloc
  detail::cell_ptr outbox();
  /// The outbox `p` is being freed. @threadsafe
  void forget_outbox(const detail::remote_proxy& p) noexcept;
  /// After the end: true once the outbox has closed (run its node_down).
  [[nodiscard]] bool outbox_closed();

  // -- the frame_reader's sink (the reader) --
  /// One frame; false stops the split (ending, or the handshake just ended).
  bool on_frame(const frame_view& f);
  [[nodiscard]] bool established() const noexcept { return established_; }
  /// Over, ending, or suspended (what the old carrier's buffer still holds is not read).
  [[nodiscard]] bool stopped() const noexcept {
    return closed_.load(std::memory_order_relaxed) || read_stopped_.load(std::memory_order_relaxed) ||
           suspended_.load(std::memory_order_relaxed);
  }
  void framing_failed(std::string detail) { bad_frame(std::move(detail)); }
  void read_failed(const boost::system::error_code& ec);
  void read_done() noexcept;

  // -- writer_host (under the write lock) --
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
  void post_write() override;
  void end_later(close_reason why, std::string detail) noexcept override { end_soon(why, std::move(detail)); }

  // -- idle_poller (a polled stream, once established: pool workers) --
  void watch(bool on) noexcept override;
  bool poll() noexcept override;

 private:
  /// Frames the outbox (replies, credit) may hold before the peer counts as not reading.
  static constexpr std::size_t max_outbox_frames = std::size_t{1} << 20;

  // Lifecycle (connection.cpp).
  /// I/O thread: the async read loop (sockets, pipes), or polling once a
  /// polled stream is established.
  void read_more();
  bool on_handshake_frame(const frame_view& f);
  bool on_authenticated(const frame_view& f, std::string& reply);
  /// Connector: the WELCOME said whether our session goes on.
  bool on_welcome(const frame_view& f);
  bool on_handshake_failed(std::string& reply);
  /// Empty when the peer's certificate names the node it says it is (or
  /// the stream is not TLS); else why not.
  [[nodiscard]] std::string uncertified() const;
  void on_established();
  void arm_heartbeat();
  void on_heartbeat();
  /// Heartbeat: counts and logs the remote actors whose senders have waited
  /// for credit longer than heartbeat_timeout.
  void report_credit_stalls();
  /// I/O thread: drains a polled stream when its doorbell rings, for ever.
  void wait_polled(bool if_ready_now = true);
  /// Ends the connection from the read path: at once on the I/O thread,
  /// from a poller by a post (and no frame is handled after this one).
  void end_from_reader(close_reason why, std::string detail);
  /// A finished lookup as a handle, or why not.
  result<detail::cell_ptr> lookup_outcome(const lookup_state& l, std::string_view name, const std::type_info& type,
                                          const std::vector<std::string>& required);
  /// The end: counts the messages the peer did not get as dead letters.
  void count_unacknowledged(bool graceful);
  /// The end's second half: what the peer's actors and our callers are told.
  void tell_down(close_reason why, const std::string& what, bool was_established);
  /// The end closes the outbox, and one made later closes at once.
  void end_outbox(const std::string& what) noexcept;
  // Control frames (control.cpp): one handler per kind.
  bool on_control(const frame_view& f);
  bool on_reply(std::string_view body);
  bool on_lookup(std::string_view body);
  bool on_lookup_reply(std::string_view body);
  bool on_stop(std::string_view body);
  bool on_monitor(std::string_view body, bool demonitor);
  bool on_down(std::string_view body);
  bool on_link(std::string_view body, bool unlink);
  bool on_exit(std::string_view body);
  bool on_return(std::string_view body);
  bool on_credit(std::string_view body);
  bool on_goodbye(std::string_view body);
  bool on_ack(std::string_view body);
  /// A heartbeat: one from the peer's timer is answered at once (at most
  /// twice a heartbeat interval); an answer to ours gives the round trip.
  bool on_heartbeat_frame(std::string_view body);
  /// A STOP or LINK the actor's publication does not allow: counted, logged (limited).
  void refuse_control(const char* what, std::uint64_t target);
  // The session (resume.cpp).
  /// A frame with the wrong number: the connection ends (and resumes).
  bool out_of_sequence(const frame_view& f);
  /// The reader, after a read: acknowledges what it delivered when enough has gathered.
  void ack_if_due();
  /// A transport fault ended the carrier: waits for a new one.
  void suspend(close_reason why, const std::string& reason);
  /// Stops reading and writing the carrier, and closes it.
  void drop_carrier();
  /// Starts the session on `stream` (`first_out` goes first, `first_in` was read from it already).
  void attach(std::unique_ptr<byte_stream> stream, std::string_view first_out, std::uint64_t peer_delivered,
              std::string_view first_in);
  /// Down_after: the wait for a carrier.
  void arm_down_timer();

  node_impl& node_;
  detail::system_core* core_;  // a connection may outlive its node (a proxy holds it)
  std::unique_ptr<byte_stream> stream_;
  handshake hs_;
  std::optional<dial_target> dial_;
  std::shared_ptr<dial_state> waiter_;  // until the dial's outcome is known (it holds us then)
  bool user_dial_ = false;
  std::string endpoint_;
  std::string source_;
  std::string peer_name_;  // written before established, then read-only
  std::uint64_t peer_incarnation_ = 0;
  std::uint32_t peer_max_frame_ = 0;
  int worker_pid_ = -1;    // set before the connection starts
  bool from_listener_ = false;  // set before the connection starts

  // The I/O thread's (readers see the atomics).
  bool established_ = false;
  std::atomic<bool> closed_{false};
  std::atomic<bool> read_stopped_{false};  // a poller ended the connection: handle no more frames
  bool duplicate_ = false;
  bool refused_stale_ = false;
  const connection* replaces_ = nullptr;  // see replace()
  std::atomic<bool> alive_{false};
  bool polled_ = false;   // set when established
  bool polling_ = false;  // registered with the pool
  std::unique_ptr<asio::steady_timer> timer_;  // handshake timeout, then heartbeats (down_after while suspended)
  std::uint64_t heartbeat_seq_ = 0;
  std::atomic<std::int64_t> heartbeat_sent_ns_{0};  // when heartbeat_sent_seq_ went out
  std::atomic<std::uint64_t> heartbeat_sent_seq_{0};
  std::atomic<std::int64_t> rtt_ns_{-1};            // the last round trip measured (-1: none yet)
  std::int64_t answered_ns_ = 0;                    // the reader's: when it last answered a heartbeat
  // The session.
  std::uint64_t session_ = 0;
  bool resumable_ = false;                 // reliable delivery over a stream that can be dialled again
  std::atomic<bool> suspended_{false};
  std::chrono::steady_clock::time_point suspended_at_{};
  std::uint64_t carrier_ = 0;              // which carrier the read loop reads (an older one's completion is ignored)
  std::optional<asio::ip::tcp::endpoint> peer_listener_;  // see peer_listener()
  std::atomic<std::uint64_t> delivered_{0};  // the reader's (read by the heartbeat)
  // What was last acknowledged to the peer, by the reader (every so many
  // frames) or the heartbeat (what is left): either may send the next ACK.
  std::atomic<std::uint64_t> ack_sent_{0};
  std::size_t unacked_bytes_ = 0;          // the reader's: bytes delivered since its last ACK

  link_counters counters_;  // before the reader and writer, which count into it
  frame_reader reader_;
  frame_writer writer_;
  inbound_path inbound_;
  outbound_path outbound_;
  std::shared_ptr<proxy_table> proxies_;  // replaced only by take_proxies()
  peer_watches watches_;                  // the peer's monitors on our actors
  std::mutex outbox_mx_;
  detail::remote_proxy* outbox_ = nullptr;  // not owning: it forgets itself when freed
  bool outbox_ended_ = false;
  requests requests_;
  lent_buffers lent_;
  std::shared_ptr<bytes_lender> lender_;        // made when established (polled)
  std::shared_ptr<detail::wire_asker> asker_;   // answers the peer's asks (made when established)

  std::mutex ended_mx_;
  bool ended_ = false;
  std::condition_variable ended_cv_;
};

} // namespace troupe::transport
