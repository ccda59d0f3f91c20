#pragma once
// Private to the transport: one connection to a peer node, from the first
// byte through the handshake to its end, and (once established) the port
// its remote actors' proxies use. All state is owned by the node's I/O
// thread except where a member says otherwise.

#include <spdlog/spdlog.h>

#include <atomic>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "troupe/actors/remote.hpp"
#include "troupe/scheduler/idle_poller.hpp"
#include "troupe/transport/byte_stream.hpp"
#include "troupe/transport/frame.hpp"
#include "troupe/transport/handshake.hpp"
#include "troupe/transport/node.hpp"

namespace troupe::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class node_impl;
struct exposed_actor;
class session_account;

spdlog::logger& log();

/// The acceptor's refusal of a second connection from a peer it has a session with.
inline constexpr const char* already_connected = "already connected";

/// Where a dial's outcome goes (a blocking connect() waits on it).
struct dial_state {
  std::mutex mx;
  std::condition_variable cv;
  bool done = false;
  std::shared_ptr<session> established;
  std::string error;
  void finish(std::shared_ptr<session> s, std::string err) {
    std::lock_guard lock(mx);
    if (done) return;
    done = true;
    established = std::move(s);
    error = std::move(err);
    cv.notify_all();
  }
};

/// Where a session was dialled to (for reconnects): host and port, or a
/// Unix socket path.
struct dial_target {
  std::string host;
  std::uint16_t port = 0;
  std::chrono::milliseconds backoff{0};
  std::string unix_path;
  bool shm = false;  ///< through a `listen_shm` socket at unix_path
};

struct lookup_state {
  std::mutex mx;
  std::condition_variable cv;
  bool done = false;
  bool found = false;
  std::uint64_t actor = 0;
  std::string actor_type;
  std::vector<std::string> accepts;
  std::string error;  // set when the session ended first
};

class session final : public remote::port, public idle_poller, public std::enable_shared_from_this<session> {
 public:
  session(node_impl& node, std::unique_ptr<byte_stream> stream, handshake::role role,
          std::optional<dial_target> dial, std::shared_ptr<dial_state> waiter);
  ~session() override;

  /// Sends HELLO, starts reading and the handshake timer. I/O thread.
  void start();
  /// Ends the session (I/O thread): closes the socket; when established,
  /// the peer is down for every proxy, ask and lookup. Idempotent.
  void down(const std::string& reason, bool log_warning = true);
  /// Says GOODBYE (when established), then down(). I/O thread.
  void leave(const std::string& reason);
  /// Drops a session that never started (closes its stream quietly). I/O thread.
  void abandon();
  [[nodiscard]] const std::optional<dial_target>& dialled() const noexcept { return dial_; }
  /// True when this connection was refused as a second one to a peer
  /// already connected (the existing session serves instead).
  [[nodiscard]] bool duplicate() const noexcept { return duplicate_; }
  /// True when a connect() call made this session (not a reconnect).
  [[nodiscard]] bool has_waiter() const noexcept { return user_dial_; }

  // -- any thread --
  [[nodiscard]] const std::string& peer_name() const noexcept { return peer_name_; }
  [[nodiscard]] std::uint64_t peer_incarnation() const noexcept { return peer_incarnation_; }
  [[nodiscard]] bool alive() const noexcept { return alive_.load(std::memory_order_acquire); }
  /// The largest frame the peer accepts. Set when the session is established,
  /// before anything can reply to the peer.
  [[nodiscard]] std::uint32_t peer_max_frame() const noexcept { return peer_max_frame_; }
  result<detail::cell_ptr> lookup(std::string_view name, const std::type_info& type,
                                  const std::vector<std::string>& required, std::chrono::milliseconds timeout);
  detail::cell_ptr proxy_for(std::uint64_t id, const std::type_info& type);
  /// Queues a complete frame for the peer, in order with the session's other
  /// frames made off the I/O thread. False when the session is over.
  bool post_frame(std::string frame);
  [[nodiscard]] const std::string& remote_endpoint() const noexcept { return endpoint_; }
  /// True while messages for the peer wait in a proxy or in a buffer.
  [[nodiscard]] bool has_pending_output();
  /// Blocks until the session has ended. @threadsafe
  void wait_ended();
  /// Ends the session with a goodbye (queued to the I/O thread). @threadsafe
  void close(const std::string& reason);
  /// The session is a worker process's: down() reports its exit status.
  void set_worker_pid(int pid) noexcept { worker_pid_ = pid; }
  /// After down(): true once every proxy has closed (run its node_down).
  [[nodiscard]] bool proxies_closed();

  // -- remote::port (proxy turns, on workers) --
  void begin_turn() override;
  void end_turn() noexcept override;
  [[nodiscard]] bool congested() const noexcept override;
  bool wait_writable(remote::proxy& p) override;
  std::int64_t send_message(std::uint64_t target, detail::envelope* e) override;
  void send_stop(std::uint64_t target, exit_reason why) override;
  void send_monitor(std::uint64_t target, std::uint64_t ref) override;
  void send_demonitor(std::uint64_t target, std::uint64_t ref) override;
  void send_link(std::uint64_t target, std::uint64_t local) override;
  void send_unlink(std::uint64_t target, std::uint64_t local) override;
  void send_exit(std::uint64_t target, std::uint64_t local, exit_reason why, const std::string& what) override;
  void send_down(std::uint64_t local, std::uint64_t ref, exit_reason why, const std::string& what) override;
  void send_raw(std::string&& frame) override;
  void forget(remote::proxy& p) noexcept override;

  // -- idle_poller (a polled stream, once established: pool workers) --
  void watch(bool on) noexcept override;
  bool poll() noexcept override;

 private:
  struct pending_ask {
    detail::reply_slot_base* slot;
    bool (*deliver)(detail::reply_slot_base&, std::string_view);
  };
  struct type_in {
    std::string name;
    std::uint64_t gen = ~std::uint64_t{0};
    bool known = false;
    // The last receiver of this type and its entry (valid for `gen`).
    const exposed_actor* actor = nullptr;
    const remote::inbound_type* in = nullptr;
  };
  /// A published actor as a session sees it: the actor, and the account
  /// of credit owed to the peer for it.
  struct target {
    std::shared_ptr<exposed_actor> ex;
    session_account* account = nullptr;
  };
  /// Credit the peer has not granted back yet for one of its actors, as
  /// this side counts it (see debts_).
  struct debt {
    std::int64_t units = 0;
    detail::cell_ptr pin;  ///< the actor's proxy, kept while `units` >= remote::credit_step
  };

  void read_more();
  void on_read(std::size_t n);
  /// Splits and handles the frames in rbuf_ after `n` new bytes. The I/O
  /// thread, or whoever holds the read token of a polled stream. False
  /// when the session is over (or ending).
  bool consume(std::size_t n);
  enum class drained : std::uint8_t { nothing, some, busy };
  /// Reads a polled stream until it is empty, under the read token. Any thread.
  drained drain() noexcept;
  /// I/O thread: drains when the stream's doorbell rings, for ever.
  void wait_polled(bool if_ready_now = true);
  /// Ends the session from the read path: at once on the I/O thread, from
  /// a poller by a post (and no frame is handled after this one).
  void end_from_reader(const std::string& reason, bool log_warning = true);
  /// The stream failed while reading (any reader): counted when the peer
  /// lied, then the session ends.
  void read_failed(const boost::system::error_code& ec);
  bool on_frame(const frame_view& f);
  bool on_handshake_frame(const frame_view& f);
  bool on_message(const frame_view& f);
  /// Queues a wire_envelope for `to`, batched with the messages before it
  /// for the same actor: one mailbox push (and one credit reference) per
  /// chain of up to `max_chain`.
  void queue_inbound(const target& to, remote::wire_envelope* e) noexcept;
  /// Pushes the pending chain into its mailbox.
  void flush_inbound() noexcept;
  static constexpr std::uint32_t max_chain = 64;
  /// A TRANSFER that no actor takes: its loan goes back at once (the buffer
  /// was never mapped here; the caller closes its descriptor).
  void give_back_now(std::uint64_t loan);
  bool on_control(const frame_view& f);
  void established();
  bool bad_frame(const std::string& why);
  /// Appends frames made by `f(std::string&)` and writes them. Any thread.
  template <class F>
  void append(F&& f);
  /// Writes out_ (wmx_ held): a direct send, the rest by the I/O thread.
  void flush_locked() noexcept;
  void write_pending();  // I/O thread
  /// wmx_ held: the peer does not read what we send; counts it, stops all
  /// writing and ends the session (on the I/O thread) saying `what`.
  void stalled_locked(const std::string& what) noexcept;
  /// Stops all writing and has the I/O thread end the session with the
  /// reason `what` + `detail`. @note Under wmx_.
  void close_writes_locked(std::string_view what, std::string_view detail) noexcept;
  /// Proxies a peer's LINKs may make (one per remote actor it links from),
  /// beyond which a LINK is a bad frame.
  static constexpr std::size_t max_linked_proxies = std::size_t{1} << 16;
  /// Largest piece handed to the stream at once while writing_ (progress
  /// for write_timeout is counted per piece).
  static constexpr std::size_t write_piece = std::size_t{256} << 10;
  /// Descriptors passed ahead of frames not yet written into the stream,
  /// beyond which a buffer is copied instead: the shm receiver stops reading
  /// its control socket at 256 queued descriptors and must find their frames
  /// in the ring then.
  static constexpr std::uint32_t max_unwritten_fds = 128;
  /// Frames the outbox (replies, credit) may hold before the peer counts as not reading.
  static constexpr std::size_t max_outbox_frames = std::size_t{1} << 20;
  /// wmx_ held: the parked proxies to wake, when the buffers have drained.
  std::vector<detail::cell_ptr> drained_locked();
  /// wmx_ held (in a proxy's turn): counts a message of `units` sent to `target`.
  void note_sent(std::uint64_t target, std::int64_t units) noexcept;
  /// wmx_ held, at the end of a turn: adds what it sent to its actor's
  /// debt, and pins the proxy once the debt reaches a credit step.
  void settle_turn() noexcept;
  /// Reader: the peer granted `units` more for its actor `target`.
  void credit_from_peer(std::uint64_t target, std::int64_t units);
  void arm_heartbeat();
  /// The reader answers an ask of the peer with an error, after handing
  /// over what it read before (the chain).
  void reply_error_now(std::uint64_t request, ask_error code, const std::string& message);
  /// The published actor `id` (cached for generation `gen`), or nullptr.
  const target* exposed(std::uint64_t id, std::uint64_t gen);
  detail::actor_cell* exposed_cell(std::uint64_t id);
  detail::cell_ptr find_proxy(std::uint64_t id);
  /// find_proxy with mx_ held.
  detail::cell_ptr find_proxy_locked(std::uint64_t id);
  /// The outbox proxy (made on first use, freed when nobody needs it).
  detail::cell_ptr outbox() { return proxy_for(0, typeid(remote::unknown_actor)); }
  /// A message for `receiver` that no actor takes: counted, its `units` of
  /// credit given back, an ask answered with `why`.
  void drop_inbound(std::uint64_t receiver, const target* to, std::uint64_t request, std::int64_t units,
                    const std::string& why);

  node_impl& node_;
  std::unique_ptr<byte_stream> stream_;
  handshake hs_;
  std::optional<dial_target> dial_;
  std::shared_ptr<dial_state> waiter_;  // until the dial's outcome is known (it holds us then)
  bool user_dial_ = false;
  // What proxies need, copied: a peer handle may outlive the node.
  detail::system_core* core_;
  std::size_t proxy_capacity_;
  std::size_t unsent_limit_;  // reader-made output held for a peer before it counts as not reading
  std::string endpoint_;
  std::string peer_name_;             // written before established, then read-only
  std::uint64_t peer_incarnation_ = 0;
  std::uint32_t peer_max_frame_ = 0;
  bool established_ = false;
  std::atomic<bool> closed_{false};  // written by the I/O thread; pollers read it
  bool duplicate_ = false;
  std::atomic<bool> alive_{false};

  // Reading.
  std::string rbuf_;
  std::size_t rlen_ = 0;
  std::atomic<std::chrono::steady_clock::rep> last_read_{0};  // steady_clock ticks
  // A polled stream (shared memory): read by whoever holds the token, the
  // I/O thread or an idle pool worker; the state above is the token's.
  bool polled_ = false;             // set when established (shared memory: shared_bytes go by descriptor too)
  bool polling_ = false;            // registered with the pool (I/O thread)
  std::atomic<bool> reading_{false};   // the read token
  std::atomic<bool> read_stopped_{false};  // a poller ended the session: handle no more frames
  // Writing, all under wmx_: frames accumulate in out_ while wbuf_ is
  // being written by the I/O thread.
  std::mutex wmx_;
  bool wclosed_ = false;
  std::chrono::steady_clock::time_point write_since_{};  // when the write in progress last moved (wmx_)
  std::size_t wbuf_done_ = 0;   // bytes of wbuf_ written so far (wmx_)
  // Descriptors passed (TRANSFERs) whose frames are still in out_ / in
  // wbuf_, not yet in the stream (wmx_): see max_unwritten_fds.
  std::uint32_t fds_in_out_ = 0;
  std::uint32_t fds_in_wbuf_ = 0;
  std::string out_;
  std::string wbuf_;
  bool writing_ = false;
  std::vector<detail::cell_ptr> waiting_;  // proxies parked until the buffers drain
  std::unique_ptr<asio::steady_timer> timer_;  // handshake timeout, then heartbeats
  std::uint64_t heartbeat_seq_ = 0;

  // Outgoing message types (connection-local ids), under wmx_.
  std::unordered_map<const detail::wire_ops*, std::uint32_t> types_out_;
  std::uint32_t next_type_id_ = 1;
  const std::pair<const detail::wire_ops* const, std::uint32_t>* last_type_out_ = nullptr;  // the last used entry
  std::uint64_t msgs_out_turn_ = 0;  // messages of this turn, counted at end_turn
  std::uint64_t turn_target_ = 0;    // this turn's actor and the credit its messages used (settle_turn)
  std::int64_t turn_units_ = 0;
  // Incoming message types.
  std::unordered_map<std::uint32_t, type_in> types_in_;
  std::unordered_map<std::uint64_t, target> exposed_cache_;
  const std::pair<const std::uint64_t, target>* last_exposed_ = nullptr;  // the last hit in exposed_cache_
  // Messages read for one actor, queued together (see queue_inbound); only
  // while `consume` runs, by the reader.
  // An actor is exposed under one id, so its messages share one account
  // (first->account): one reference each, taken at flush.
  struct inbound_chain {
    detail::actor_cell* cell = nullptr;
    remote::wire_envelope* first = nullptr;
    remote::wire_envelope* last = nullptr;
    std::uint32_t count = 0;
  };
  inbound_chain chain_;
  std::uint64_t msgs_in_ = 0;  // counted into node_.counters when `consume` ends
  // Flow credit owed to the peer, per local actor it sends to (one reference
  // each). Each also counts what the peer sent and was not granted back yet:
  // a peer that goes past its window is cut off (credit_limit_).
  std::unordered_map<std::uint64_t, session_account*> accounts_;
  session_account* account_for(std::uint64_t target);
  std::int64_t credit_limit_;
  std::uint64_t exposed_gen_ = ~std::uint64_t{0};
  // Buffers lent to the peer (transferred shared_bytes), under wmx_: kept
  // mapped here until the peer gives them back, then reused (sealed: the
  // peer cannot write them) unless node_options::reuse_returned_buffers is
  // off.
  std::unordered_map<std::uint64_t, shared_bytes> lent_;
  std::uint64_t next_loan_ = 1;
  std::shared_ptr<bytes_lender> lender_;  // gives our loans back to this peer (made when established)
  // Asks to the peer awaiting replies, under wmx_.
  std::unordered_map<std::uint64_t, pending_ask> asks_;
  std::uint64_t next_request_ = 1;

  // Shared with other threads.
  mutable std::mutex mx_;
  // Not owning: proxies forget() themselves. Id 0 is the session's outbox:
  // frames made off the I/O thread, and the watcher of the peer's monitors.
  std::unordered_map<std::uint64_t, remote::proxy*> proxies_;
  std::unordered_map<std::uint64_t, std::shared_ptr<lookup_state>> lookups_;
  std::uint64_t next_lookup_ = 1;
  // Credit the peer has yet to grant back, per remote actor we sent to: what
  // the proxies spent minus the FLOW_CREDIT that came back. A proxy starts
  // with a full window, so one made afresh for an actor whose freed proxy
  // left a debt would send a whole window on top of that debt, and the
  // peer would cut the connection. So a proxy with a debt of a credit step
  // or more is pinned (kept alive, reused by proxy_for) until the debt is
  // below a step: a fresh proxy then adds at most that much (see
  // credit_limit in session.cpp). Entries go when paid off; pins go in down().
  std::unordered_map<std::uint64_t, debt> debts_;
  // Remote actors whose proxy a LINK from the peer made (under mx_).
  std::unordered_set<std::uint64_t> linked_proxies_;
  bool ended_ = false;
  std::condition_variable ended_cv_;
  int worker_pid_ = -1;  // set before the session starts
  std::shared_ptr<remote::reply_sink> sink_;
};

} // namespace troupe::transport
