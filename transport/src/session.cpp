#include "session.hpp"
#include "troupe/detail/logger.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "node_impl.hpp"
#include "shm_stream.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/proto/troupe.pb.h"

namespace troupe::transport {

spdlog::logger& log() { return detail::logger(); }

namespace {
constexpr std::size_t read_chunk = 256 * 1024;
// A proxy stops handing messages to a connection holding more unwritten
// bytes than this, and is woken when they are below the low mark.
constexpr std::size_t out_high_water = 4u << 20;
constexpr std::size_t out_low_water = 1u << 20;
// Before the handshake ends only HELLO, AUTH and REFUSE arrive (well under
// 1 KiB): a larger length from an unauthenticated peer closes the connection.
constexpr std::uint32_t handshake_max_frame = 4096;
// A reason string sent with EXIT and DOWN is cut to this.
constexpr std::size_t max_what_bytes = 4096;
// A REPLY frame's bytes around its payload (kind, request id, tags, lengths).
constexpr std::size_t reply_overhead = 32;

wire::ExitReason to_wire(exit_reason r) {
  switch (r) {
    case exit_reason::normal: return wire::EXIT_NORMAL;
    case exit_reason::stopped: return wire::EXIT_STOPPED;
    case exit_reason::exception: return wire::EXIT_EXCEPTION;
    case exit_reason::killed: return wire::EXIT_KILLED;
    case exit_reason::node_down: return wire::EXIT_NODE_DOWN;
  }
  return wire::EXIT_STOPPED;
}

exit_reason from_wire(int r) {
  switch (r) {
    case wire::EXIT_NORMAL: return exit_reason::normal;
    case wire::EXIT_STOPPED: return exit_reason::stopped;
    case wire::EXIT_EXCEPTION: return exit_reason::exception;
    case wire::EXIT_KILLED: return exit_reason::killed;
    default: return exit_reason::node_down;
  }
}

wire::AskError to_wire(ask_error e) {
  switch (e) {
    case ask_error::timeout: return wire::ASK_TIMEOUT;
    case ask_error::actor_stopped: return wire::ASK_ACTOR_STOPPED;
    case ask_error::exception: return wire::ASK_EXCEPTION;
    case ask_error::mailbox_full: return wire::ASK_MAILBOX_FULL;
    case ask_error::node_down: return wire::ASK_NODE_DOWN;
  }
  return wire::ASK_EXCEPTION;
}

ask_error ask_from_wire(int e) {
  switch (e) {
    case wire::ASK_TIMEOUT: return ask_error::timeout;
    case wire::ASK_ACTOR_STOPPED: return ask_error::actor_stopped;
    case wire::ASK_MAILBOX_FULL: return ask_error::mailbox_full;
    case wire::ASK_NODE_DOWN: return ask_error::node_down;
    default: return ask_error::exception;
  }
}

/// MONITOR and DEMONITOR share a body, as do LINK and UNLINK.
wire::Monitor monitor_body(std::uint64_t target, std::uint64_t ref) {
  wire::Monitor m;
  m.set_target(target);
  m.set_ref(ref);
  return m;
}

wire::Link link_body(std::uint64_t target, std::uint64_t from) {
  wire::Link l;
  l.set_target(target);
  l.set_from(from);
  return l;
}

template <class M>
bool parse(M& m, const frame_view& f) {
  return m.ParseFromArray(f.body.data(), static_cast<int>(f.body.size()));
}

std::string reply_frame(std::uint64_t request, ask_error code, std::string_view message, std::string_view payload) {
  wire::Reply r;
  r.set_request_id(request);
  if (code != ask_error{}) {
    r.set_error(to_wire(code));
    r.set_message(std::string(message));
  } else {
    r.set_payload(std::string(payload));
  }
  std::string f;
  append_frame(f, frame_kind::reply, r);
  return f;
}

/// Appends a FLOW_CREDIT frame granting `messages` more for actor `target`.
void append_credit(std::string& out, std::uint64_t target, std::uint64_t messages) {
  wire::FlowCredit c;
  c.set_messages(messages);
  c.set_target(target);
  append_frame(out, frame_kind::flow_credit, c);
}

/// Sends the frame `make(std::string&)` appends through the session's
/// outbox, if the session is still there. Any thread.
template <class Make>
void post_to(const std::weak_ptr<session>& weak, Make&& make) noexcept {
  try {
    auto s = weak.lock();
    if (!s) return;
    std::string f;
    make(f);
    s->post_frame(std::move(f));
  } catch (...) {
  }
}

/// Appends a RETURN frame giving loan `id` (a transferred buffer) back to its lender.
void append_return(std::string& out, std::uint64_t id) {
  const std::size_t start = begin_frame(out, frame_kind::give_back);
  framing::put_fixed64(out, id);
  end_frame(out, start);
}

/// Output the reader made (replies, credit, DOWNs) held for a peer before
/// it counts as not reading, when frames are up to `max_frame` bytes.
std::size_t unsent_limit(std::uint32_t max_frame) noexcept { return out_high_water + 2 * std::size_t{max_frame}; }
} // namespace

/// Grants the peer credit for one of our actors, and counts what the peer
/// sent it that was not granted back yet (the peer's credit in use).
class session_account final : public remote::credit_account {
 public:
  session_account(std::weak_ptr<session> s, std::uint64_t target) : s_(std::move(s)), target_(target) {}

  /// The reader takes a message of `units` through this account: false,
  /// and nothing counted, when that would put more than `limit` units in
  /// the peer's hands (it sent without credit).
  [[nodiscard]] bool charge(std::int64_t units, std::int64_t limit) noexcept {
    // Two counts, so that the reader's (once per message) is a plain store:
    // only the reader adds to received_. A stale granted_ only makes the
    // check stricter, and a grant the peer acted on was counted before it
    // was sent.
    const std::int64_t received = received_.load(std::memory_order_relaxed) + units;
    if (received - granted_.load(std::memory_order_relaxed) > limit) return false;
    received_.store(received, std::memory_order_relaxed);
    return true;
  }

 private:
  void grant(std::int64_t units) noexcept override {
    granted_.fetch_add(units, std::memory_order_relaxed);  // before the frame goes
    post_to(s_, [&](std::string& f) { append_credit(f, target_, static_cast<std::uint64_t>(units)); });
  }
  std::weak_ptr<session> s_;
  std::uint64_t target_;
  std::atomic<std::int64_t> received_{0};  // units the peer sent through this account (the reader's)
  std::atomic<std::int64_t> granted_{0};   // units granted back (any thread)
};

namespace {
/// Gives the peer's buffers back (a RETURN frame) when the actors here drop them.
class session_lender final : public bytes_lender {
 public:
  explicit session_lender(std::weak_ptr<session> s) : s_(std::move(s)) {}
  void give_back(std::uint64_t id) noexcept override {
    post_to(s_, [&](std::string& f) { append_return(f, id); });
  }

 private:
  std::weak_ptr<session> s_;
};

/// Answers the peer's asks: frames go through the session's outbox.
class session_sink final : public remote::reply_sink {
 public:
  explicit session_sink(std::weak_ptr<session> s) : s_(std::move(s)) {}
  void reply(std::uint64_t request, std::string&& payload) noexcept override {
    try {
      auto s = s_.lock();
      if (!s) return;
      // The asker's node refuses frames above its maximum: say so instead.
      if (payload.size() + reply_overhead > s->peer_max_frame()) {
        log().error("troupe: a reply of {} bytes is larger than {} accepts ({} bytes)", payload.size(),
                    s->peer_name(), s->peer_max_frame());
        s->post_frame(reply_frame(request, ask_error::exception, "the reply is larger than the asker's maximum frame", {}));
        return;
      }
      s->post_frame(reply_frame(request, ask_error{}, {}, payload));
    } catch (...) {
    }
  }
  void reply_error(std::uint64_t request, ask_error code, const std::string& message) noexcept override {
    try {
      if (auto s = s_.lock()) s->post_frame(reply_frame(request, code, message, {}));
    } catch (...) {
    }
  }

 private:
  std::weak_ptr<session> s_;
};
} // namespace

session::session(node_impl& node, std::unique_ptr<byte_stream> stream, handshake::role role,
                 std::optional<dial_target> dial, std::shared_ptr<dial_state> waiter)
    : node_(node),
      stream_(std::move(stream)),
      hs_(role, node.opts.name, node.incarnation, node.cookie, node.opts.max_frame_bytes),
      dial_(std::move(dial)),
      waiter_(std::move(waiter)),
      user_dial_(waiter_ != nullptr),
      core_(&node.core),
      proxy_capacity_(node.opts.remote_mailbox_capacity),
      unsent_limit_(unsent_limit(node.opts.max_frame_bytes)),  // and the peer's: established()
      credit_limit_(remote::credit_limit(node.opts.max_frame_bytes)) {
  endpoint_ = stream_->describe();
  rbuf_.resize(read_chunk);
}

session_account* session::account_for(std::uint64_t target) {
  auto [it, fresh] = accounts_.try_emplace(target, nullptr);
  if (fresh) it->second = new session_account(weak_from_this(), target);
  return it->second;
}

session::~session() {
  for (auto& [id, a] : accounts_) a->release();
  for (auto& [id, a] : asks_) {
    a.slot->fail(ask_error::node_down, "node down");
    delete a.slot;
  }
}

void session::start() {
  last_read_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  append([&](std::string& out) { hs_.start(out); });
  timer_ = std::make_unique<asio::steady_timer>(node_.io);
  timer_->expires_after(node_.opts.handshake_timeout);
  timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_ || self->established_) return;
    self->node_.counters.hs_timeouts.fetch_add(1, std::memory_order_relaxed);
    self->down("handshake not finished within " + std::to_string(self->node_.opts.handshake_timeout.count()) + " ms");
  });
  read_more();
}

void session::read_more() {
  if (closed_) return;
  if (polled_) {
    // From here on idle workers read too; the I/O thread waits on the doorbell.
    polling_ = core_->pool().add_poller(this);
    if (!polling_) log().info("troupe node {}: {}: too many polled connections: this one is read by the I/O thread only",
                              node_.opts.name, endpoint_);
    wait_polled();
    return;
  }
  stream_->async_read_some(rbuf_.data() + rlen_, rbuf_.size() - rlen_,
                         [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                           if (self->closed_) return;
                           if (ec) return self->read_failed(ec);
                           self->on_read(n);
                         });
}

void session::on_read(std::size_t n) {
  if (consume(n)) read_more();
}

void session::wait_polled(bool if_ready_now) {
  if (closed_) return;
  stream_->async_wait_readable(
      [self = shared_from_this()] {
        if (self->closed_) return;
        // Busy: a worker holds the token and looks again when it lets go;
        // we sleep until the doorbell rings.
        self->wait_polled(self->drain() != drained::busy);
      },
      if_ready_now);
}

session::drained session::drain() noexcept {
  if (reading_.exchange(true, std::memory_order_acquire)) return drained::busy;
  detail::never_block_scope never_block;  // as on the I/O thread: a full mailbox must not stall the connection
  bool any = false;
  for (;;) {
    while (!closed_.load(std::memory_order_relaxed) && !read_stopped_.load(std::memory_order_relaxed)) {
      boost::system::error_code ec;
      const std::size_t n = stream_->read_now(rbuf_.data() + rlen_, rbuf_.size() - rlen_, ec);
      if (ec) {
        read_failed(ec);
        break;
      }
      if (n == 0) break;
      any = true;
      if (!consume(n)) break;
    }
    reading_.store(false, std::memory_order_release);
    // Bytes that came while we held the token, seen by nobody else: ours.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (closed_.load(std::memory_order_relaxed) || read_stopped_.load(std::memory_order_relaxed) || !stream_->readable() ||
        reading_.exchange(true, std::memory_order_acquire)) {
      break;
    }
  }
  return any ? drained::some : drained::nothing;
}

void session::watch(bool on) noexcept {
  stream_->watch(on);
  // Bytes written while the writer saw us watching rang no doorbell.
  if (!on) poll();
}

bool session::poll() noexcept {
  if (!stream_->readable()) return false;
  return drain() == drained::some;
}

void session::read_failed(const boost::system::error_code& ec) {
  // A shared-memory peer lying about its ring is bad input, counted like a bad frame.
  if (ec.category() == shm_category()) {
    (established_ ? node_.counters.bad_frames : node_.counters.hs_failures).fetch_add(1, std::memory_order_relaxed);
  }
  end_from_reader(ec == asio::error::eof ? std::string("connection closed by the peer") : "read failed: " + ec.message());
}

void session::end_from_reader(const std::string& reason, bool log_warning) {
  if (node_.io.get_executor().running_in_this_thread()) {
    // What this read queued before the end goes first (its cells are held by
    // the cache that down() clears), and before node_down reaches the proxies.
    flush_inbound();
    down(reason, log_warning);
    return;
  }
  if (read_stopped_.exchange(true)) return;
  asio::post(node_.io, [self = shared_from_this(), reason, log_warning] { self->down(reason, log_warning); });
}

bool session::consume(std::size_t n) {
  // Whatever ends this read, what it queued reaches the mailboxes.
  struct flush_at_end {
    session& s;
    ~flush_at_end() {
      s.flush_inbound();
      s.node_.counters.msgs_in.fetch_add(std::exchange(s.msgs_in_, 0), std::memory_order_relaxed);
    }
  } at_end{*this};
  rlen_ += n;
  last_read_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  node_.counters.bytes_in.fetch_add(n, std::memory_order_relaxed);
  framing_error err = framing_error::none;
  std::size_t used = 0;
  std::uint32_t limit = 0;
  for (;;) {
    // The limit grows when the handshake ends: split again from there.
    const bool was_established = established_;
    limit = was_established ? node_.opts.max_frame_bytes : handshake_max_frame;
    std::uint64_t frames = 0;
    used += split_frames(std::string_view(rbuf_.data() + used, rlen_ - used), limit, err, [&](const frame_view& f) {
      ++frames;
      return on_frame(f) && established_ == was_established;
    });
    node_.counters.frames_in.fetch_add(frames, std::memory_order_relaxed);
    if (closed_ || read_stopped_) return false;
    if (err != framing_error::none || established_ == was_established) break;
  }
  if (err != framing_error::none) {
    bad_frame(err == framing_error::oversize
                  ? "frame length " + std::to_string(peek_frame_length(std::string_view(rbuf_.data() + used, rlen_ - used))) +
                        " exceeds the maximum of " + std::to_string(limit) + " bytes" +
                        (established_ ? "" : " before the handshake")
                  : std::string("frame of length 0"));
    return false;
  }
  if (used > 0) {
    std::memmove(rbuf_.data(), rbuf_.data() + used, rlen_ - used);
    rlen_ -= used;
  }
  if (rlen_ == rbuf_.size()) {
    // One frame larger than the buffer (its length was checked): grow to fit it.
    rbuf_.resize(std::size_t(peek_frame_length(rbuf_)) + 4);
  } else if (rbuf_.size() > read_chunk && rlen_ < read_chunk) {
    rbuf_.resize(read_chunk);
    rbuf_.shrink_to_fit();
  }
  return true;
}

bool session::on_frame(const frame_view& f) {
  if (closed_ || read_stopped_) return false;
  if (!established_) return on_handshake_frame(f);
  if (f.kind == static_cast<std::uint8_t>(frame_kind::message)) return on_message(f);
  flush_inbound();  // a control frame or TRANSFER comes after the messages read before it
  if (f.kind == static_cast<std::uint8_t>(frame_kind::transfer)) return on_message(f);
  return on_control(f);
}

bool session::on_handshake_frame(const frame_view& f) {
  std::string reply;
  const auto st = hs_.on_frame(f, reply);
  switch (st) {
    case handshake::status::in_progress:
      if (!reply.empty()) append([&](std::string& out) { out += reply; });
      return true;
    case handshake::status::authenticated: {
      peer_name_ = hs_.peer_name();
      peer_incarnation_ = hs_.peer_incarnation();
      const std::string refusal = node_.admit(*this);
      if (!refusal.empty()) {
        hs_.refuse(refusal, reply);
        append([&](std::string& out) { out += reply; });
        if (refusal == already_connected) {
          duplicate_ = true;  // not a failure: the peer uses the session it has
          down("refused " + peer_name_ + ": " + refusal, false);
        } else {
          node_.counters.hs_failures.fetch_add(1, std::memory_order_relaxed);
          down("refused " + peer_name_ + ": " + refusal);
        }
        return false;
      }
      hs_.welcome(reply);
      append([&](std::string& out) { out += reply; });
      established();
      return !closed_;
    }
    case handshake::status::established:
      peer_name_ = hs_.peer_name();
      peer_incarnation_ = hs_.peer_incarnation();
      established();
      return !closed_;
    case handshake::status::failed:
      // Only a peer that proved the cookie may call us a duplicate: the
      // refusal stops redials and goes unlogged, which anybody who can
      // answer our dial could otherwise use to cut us off from a peer.
      if (hs_.peer_verified() && hs_.reason().ends_with(std::string(": ") + already_connected)) {
        // connect() to a node we already have a session with: that session.
        duplicate_ = true;
        peer_name_ = hs_.peer_name();
        down("handshake failed: " + hs_.reason(), false);
        return false;
      }
      append([&](std::string& out) { out += reply; });  // the REFUSE, with the reason
      node_.counters.hs_failures.fetch_add(1, std::memory_order_relaxed);
      if (hs_.auth_failure()) node_.counters.auth_failures.fetch_add(1, std::memory_order_relaxed);
      down("handshake failed: " + hs_.reason());
      return false;
  }
  return false;
}

void session::established() {
  established_ = true;
  polled_ = stream_->pollable();
  // Shared memory: polled, and buffers are handed over, not copied.
  if (polled_) lender_ = std::make_shared<session_lender>(weak_from_this());
  {
    std::lock_guard lock(wmx_);
    peer_max_frame_ = hs_.peer_max_frame() != 0 ? hs_.peer_max_frame() : default_max_frame_bytes;
    // A frame we send may be as large as the peer takes.
    unsent_limit_ = unsent_limit(std::max(node_.opts.max_frame_bytes, peer_max_frame_));
  }
  {
    std::lock_guard lock(mx_);
    sink_ = std::make_shared<session_sink>(weak_from_this());
    alive_.store(true, std::memory_order_release);
  }
  auto w = std::exchange(waiter_, nullptr);
  if (!node_.session_up(shared_from_this())) {
    // Both nodes dialled each other; the other connection carries on.
    if (w) w->finish(node_.find_session(peer_name_), "a duplicate connection was closed");
    return;
  }
  log().info("troupe node {}: connected to {} ({}, incarnation {:016x})", node_.opts.name, peer_name_, endpoint_,
             peer_incarnation_);
  if (w) w->finish(shared_from_this(), {});
  arm_heartbeat();
}

void session::arm_heartbeat() {
  if (closed_) return;
  timer_->expires_after(node_.opts.heartbeat_interval);
  timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_) return;
    const auto silent = std::chrono::steady_clock::now() -
                        std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(self->last_read_.load()));
    if (silent > self->node_.opts.heartbeat_timeout) {
      self->node_.counters.hb_timeouts.fetch_add(1, std::memory_order_relaxed);
      self->down("no heartbeat for " +
                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()) + " ms");
      return;
    }
    {
      std::lock_guard lock(self->wmx_);
      const auto stuck = std::chrono::steady_clock::now() - self->write_since_;
      if (self->writing_ && !self->wclosed_ && stuck > self->node_.opts.write_timeout) {
        self->stalled_locked("no write completed for " +
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(stuck).count()) + " ms");
        return;
      }
    }
    wire::Heartbeat h;
    h.set_sequence(++self->heartbeat_seq_);
    self->append([&](std::string& out) { append_frame(out, frame_kind::heartbeat, h); });
    self->arm_heartbeat();
  });
}

bool session::bad_frame(const std::string& why) {
  node_.counters.bad_frames.fetch_add(1, std::memory_order_relaxed);
  end_from_reader("bad frame: " + why);
  return false;
}

template <class F>
void session::append(F&& f) {
  std::lock_guard lock(wmx_);
  if (wclosed_) return;
  f(out_);
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
  flush_locked();
}

void session::stalled_locked(const std::string& what) noexcept {
  node_.counters.write_stalls.fetch_add(1, std::memory_order_relaxed);
  close_writes_locked("the peer is not reading: ", what);
}

void session::close_writes_locked(std::string_view what, std::string_view detail) noexcept {
  wclosed_ = true;  // nothing more is written; the I/O thread ends the session
  out_.clear();
  try {
    asio::post(node_.io, [self = shared_from_this(), why = std::string(what) + std::string(detail)] { self->down(why); });
  } catch (...) {
  }
}

void session::flush_locked() noexcept {
  if (wclosed_ || out_.empty()) return;
  if (writing_) {
    // What the reader queues (replies, credit, DOWNs) does not wait for
    // congestion to clear, as proxies do (they stop at out_high_water): a
    // peer that sends and never reads would have us hold all of it.
    if (const std::size_t unsent = out_.size() + wbuf_.size() - wbuf_done_; unsent > unsent_limit_) [[unlikely]] {
      try {
        stalled_locked(std::to_string(unsent) + " bytes unsent");
      } catch (...) {
        stalled_locked("too much unsent");
      }
    }
    return;
  }
  const ssize_t n = stream_->try_write(out_.data(), out_.size());
  if (n == static_cast<ssize_t>(out_.size())) {
    node_.counters.bytes_out.fetch_add(out_.size(), std::memory_order_relaxed);
    node_.counters.writes.fetch_add(1, std::memory_order_relaxed);
    out_.clear();
    fds_in_out_ = 0;  // their frames are in the stream now
    return;
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    // EPROTO: a shared-memory peer moved our ring's read index where it cannot be.
    const bool lie = errno == EPROTO;
    if (lie) node_.counters.bad_frames.fetch_add(1, std::memory_order_relaxed);
    if (lie) {
      close_writes_locked("send failed: ", shm_category().message(static_cast<int>(shm_error::bad_index)));
    } else {
      close_writes_locked("send failed: ", std::strerror(errno));
    }
    return;
  }
  // The socket took part (or nothing): the I/O thread writes the rest.
  const std::size_t sent = n > 0 ? static_cast<std::size_t>(n) : 0;
  node_.counters.bytes_out.fetch_add(sent, std::memory_order_relaxed);
  writing_ = true;
  write_since_ = std::chrono::steady_clock::now();
  wbuf_.assign(out_, sent);
  wbuf_done_ = 0;
  fds_in_wbuf_ = std::exchange(fds_in_out_, 0);
  out_.clear();
  try {
    asio::post(node_.io, [self = shared_from_this()] { self->write_pending(); });
  } catch (...) {
    wclosed_ = true;
  }
}

void session::write_pending() {
  if (closed_) return;
  // In pieces, so that a peer reading slowly but steadily shows progress
  // (write_since_) long before a large buffer is all written.
  const std::size_t piece = std::min(wbuf_.size() - wbuf_done_, write_piece);
  stream_->async_write(wbuf_.data() + wbuf_done_, piece, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
    std::vector<detail::cell_ptr> wake;
    {
      std::lock_guard lock(self->wmx_);
      if (!ec) self->node_.counters.bytes_out.fetch_add(n, std::memory_order_relaxed);
      if (!ec && self->wbuf_done_ + n < self->wbuf_.size()) {
        self->wbuf_done_ += n;
        self->write_since_ = std::chrono::steady_clock::now();
        try {
          asio::post(self->node_.io, [self] { self->write_pending(); });
          return;
        } catch (...) {
          self->wclosed_ = true;
        }
      }
      self->writing_ = false;
      self->wbuf_.clear();
      self->wbuf_done_ = 0;
      self->fds_in_wbuf_ = 0;  // their frames are in the stream now
      if (!ec) {
        self->node_.counters.writes.fetch_add(1, std::memory_order_relaxed);
        self->flush_locked();
        wake = self->drained_locked();
      }
    }
    for (auto& p : wake) static_cast<remote::proxy&>(*p).wake();
    if (ec && !self->closed_) {
      if (ec.category() == shm_category()) self->node_.counters.bad_frames.fetch_add(1, std::memory_order_relaxed);
      self->down("write failed: " + ec.message());
    }
  });
}

void session::down(const std::string& reason, bool log_warning) {
  if (closed_) return;
  closed_ = true;
  if (polling_) {
    polling_ = false;
    core_->pool().remove_poller(this);  // no worker reads from here on
  }
  if (timer_) timer_->cancel();
  std::unordered_map<std::uint64_t, pending_ask> asks;
  std::vector<detail::cell_ptr> parked;
  std::unordered_map<std::uint64_t, shared_bytes> lent;
  {
    // What was queued (a REFUSE, a GOODBYE) went out with the last flush,
    // as far as the socket took it; nothing is written from here on.
    std::lock_guard lock(wmx_);
    wclosed_ = true;
    out_.clear();
    asks.swap(asks_);
    parked.swap(waiting_);
    lent.swap(lent_);
  }
  // The peer may still map what it was lent (a closed connection is not a
  // dead process): freed, never reused.
  for (auto& [loan, b] : lent) b.never_reuse();
  lent.clear();
  if (stream_) stream_->close();
  const bool was_established = established_;
  if (log_warning) {
    log().warn("troupe node {}: connection {} {}{} closed: {}", node_.opts.name, endpoint_,
               peer_name_.empty() ? "" : "with ", peer_name_, reason);
  }
  std::vector<detail::cell_ptr> proxies;
  std::unordered_map<std::uint64_t, std::shared_ptr<lookup_state>> lookups;
  // Pinned proxies hold this session (their port): let go of them, outside
  // the lock (a proxy's end takes it). No turn pins one after this: the
  // sends of the last turn were settled before wclosed_ was set, and later
  // ones send nothing.
  std::unordered_map<std::uint64_t, debt> debts;
  {
    std::lock_guard lock(mx_);
    alive_.store(false, std::memory_order_release);
    for (auto& [id, p] : proxies_) {
      if (p->try_add_ref()) proxies.push_back(detail::cell_ptr::adopt(p));
    }
    lookups.swap(lookups_);
    debts.swap(debts_);
  }
  std::string what = "node " + peer_name_ + " is down: " + reason;
  if (worker_pid_ > 0) what = node_.worker_exit(worker_pid_, reason);
  for (auto& p : proxies) static_cast<remote::proxy&>(*p).node_down(what);
  for (auto& p : parked) static_cast<remote::proxy&>(*p).wake();  // to run their node_down
  for (auto& [rid, a] : asks) {
    a.slot->fail(ask_error::node_down, what);
    delete a.slot;
  }
  for (auto& [rid, l] : lookups) {
    std::lock_guard lock(l->mx);
    l->done = true;
    l->error = what;
    l->cv.notify_all();
  }
  exposed_cache_.clear();
  last_exposed_ = nullptr;
  if (auto w = std::exchange(waiter_, nullptr)) {
    auto existing = duplicate_ ? node_.find_session(peer_name_) : nullptr;
    w->finish(existing, reason);
  }
  node_.session_down(*this, was_established);
  {
    std::lock_guard lock(mx_);
    ended_ = true;
  }
  ended_cv_.notify_all();
  // Pending operations end with operation_aborted. The session itself may
  // outlive the node (a proxy holds it): nothing of the I/O context stays.
  stream_.reset();
  timer_.reset();
}

void session::abandon() {
  closed_ = true;
  {
    std::lock_guard lock(wmx_);
    wclosed_ = true;
  }
  if (stream_) stream_->close();
  stream_.reset();
}

void session::leave(const std::string& reason) {
  if (closed_) return;
  if (established_) {
    wire::Goodbye g;
    g.set_reason(reason);
    append([&](std::string& out) { append_frame(out, frame_kind::goodbye, g); });
  }
  down(reason, false);
}

// -- inbound -------------------------------------------------------------------

const session::target* session::exposed(std::uint64_t id, std::uint64_t gen) {
  if (gen != exposed_gen_) {
    flush_inbound();  // its cell is held by the cache
    exposed_cache_.clear();
    exposed_gen_ = gen;
    last_exposed_ = nullptr;
  }
  if (last_exposed_ != nullptr && last_exposed_->first == id) return &last_exposed_->second;  // a run to one actor
  auto it = exposed_cache_.find(id);
  if (it == exposed_cache_.end()) {
    auto ex = node_.find_exposed(id);
    if (!ex) return nullptr;  // not cached: a peer cannot grow the cache with made-up ids
    it = exposed_cache_.emplace(id, target{std::move(ex), account_for(id)}).first;
  }
  last_exposed_ = &*it;
  return &it->second;
}

detail::actor_cell* session::exposed_cell(std::uint64_t id) {
  const target* to = exposed(id, node_.exposed_generation());
  return to != nullptr ? to->ex->cell.get() : nullptr;
}

void session::reply_error_now(std::uint64_t request, ask_error code, const std::string& message) {
  flush_inbound();  // the messages read before reach their actors before the peer hears of this one
  std::string f = reply_frame(request, code, message, {});
  append([&](std::string& out) { out += f; });
}

void session::drop_inbound(std::uint64_t receiver, const target* to, std::uint64_t request, std::int64_t units,
                           const std::string& why) {
  flush_inbound();  // as in reply_error_now: a credit frame is an answer too
  node_.core.count_drop(drop_reason::not_exposed, typeid(void));
  // The sender's credit comes back all the same: through the actor's
  // account, or at once for an id that is no actor of ours.
  if (to != nullptr) {
    to->account->consumed(units);
  } else {
    append([&](std::string& out) { append_credit(out, receiver, static_cast<std::uint64_t>(units)); });
  }
  if (request != 0) reply_error_now(request, ask_error::actor_stopped, why);
}

bool session::on_message(const frame_view& f) {
  // A TRANSFER's buffer was passed ahead of it: take it first, whatever
  // becomes of the frame, so the next TRANSFER gets its own.
  const bool transfer = f.kind == static_cast<std::uint8_t>(frame_kind::transfer);
  struct owned_fd {
    int fd = -1;
    ~owned_fd() {
      if (fd >= 0) ::close(fd);
    }
  } passed;
  if (transfer) {
    passed.fd = stream_->take_fd();
    if (passed.fd < 0) return bad_frame("TRANSFER without its buffer");
  }
  envelope_view v;
  if (!decode_envelope(f.body, v)) return bad_frame(transfer ? "malformed TRANSFER" : "malformed MESSAGE");
  if (!v.type_name.empty()) {
    if (v.type_id == 0) return bad_frame("MESSAGE names a type without an id");
    auto [it, fresh] = types_in_.try_emplace(v.type_id);
    if (!fresh && it->second.name != v.type_name) return bad_frame("MESSAGE redefines type id " + std::to_string(v.type_id));
    if (fresh) it->second.name.assign(v.type_name);
  }
  auto t = types_in_.find(v.type_id);
  if (t == types_in_.end()) return bad_frame("unknown message type id " + std::to_string(v.type_id));
  type_in& ti = t->second;
  const std::uint64_t gen = node_.exposed_generation();  // once: the caches below are of this generation
  if (ti.gen != gen) {
    ti.known = node_.knows_type(ti.name);
    ti.gen = gen;
    ti.actor = nullptr;
    ti.in = nullptr;
  }
  if (!ti.known) return bad_frame("unknown message type '" + ti.name.substr(0, 128) + "'");
  ++msgs_in_;
  // A TRANSFER is checked before anything may drop it: a dropped one is
  // given back, and only a well-formed loan can be.
  std::uint64_t size = 0;
  std::uint64_t loan = 0;
  if (transfer) {
    if (ti.name != wire_name<shared_bytes>()) {
      return bad_frame("TRANSFER of " + ti.name.substr(0, 128) + ", which is not shared_bytes");
    }
    if (v.payload.size() != remote::transfer_payload_bytes) return bad_frame("malformed TRANSFER");
    size = framing::get_fixed64(v.payload);
    loan = framing::get_fixed64(v.payload.substr(8));
    if (size < shared_bytes::transfer_threshold) return bad_frame("TRANSFER of an impossible size " + std::to_string(size));
    if (size > node_.opts.max_transfer_bytes) {
      // A sparse memfd costs the peer nothing; every page we touch of it costs us.
      return bad_frame("TRANSFER of " + std::to_string(size) + " bytes exceeds max_transfer_bytes (" +
                       std::to_string(node_.opts.max_transfer_bytes) + ")");
    }
  }
  // What the sender charged: a transfer's buffer is lent, not queued as a copy.
  const std::int64_t units = transfer ? remote::transfer_cost : remote::credit_cost(v.payload.size());
  const target* to = exposed(v.receiver, gen);
  if (to == nullptr) {
    if (transfer) give_back_now(loan);
    // No account to charge: drop_inbound grants the credit straight back.
    drop_inbound(v.receiver, nullptr, v.request_id, units,
                 "no actor " + std::to_string(v.receiver) + " is published on " + node_.opts.name);
    return true;
  }
  // Through the account from here on, dropped or delivered: counted until
  // granted back. A peer that ignores FLOW_CREDIT would otherwise grow the
  // mailbox without bound (readers never block, so no mailbox bound stops it).
  if (!to->account->charge(units, credit_limit_)) {
    return bad_frame("the peer exceeded its flow credit for actor " + std::to_string(v.receiver) + " (more than " +
                     std::to_string(credit_limit_) + " units not granted back)");
  }
  if (ti.actor != to->ex.get()) {
    // This type to another actor than last time: look its entry up by name.
    auto in = to->ex->accepts.find(ti.name);
    if (in == to->ex->accepts.end()) {
      if (transfer) give_back_now(loan);
      drop_inbound(v.receiver, to, v.request_id, units, "the actor does not accept " + ti.name + " from other nodes");
      return true;
    }
    ti.actor = to->ex.get();
    ti.in = &in->second;
  }
  detail::envelope* e = nullptr;
  if (transfer) {
    if (ti.in->adopt == nullptr) return bad_frame("TRANSFER of " + ti.name.substr(0, 128) + ", which is not shared_bytes");
    try {
      shared_bytes b = shared_bytes::adopt(std::exchange(passed.fd, -1), static_cast<std::size_t>(size));
      b.on_loan(lender_, loan);  // given back (a RETURN frame) when dropped here
      e = ti.in->adopt(std::move(b), to->account);
    } catch (const std::exception& ex) {
      return bad_frame(std::string("TRANSFER: ") + ex.what());
    }
  } else {
    if (ti.in->protobuf && !well_formed_protobuf(v.payload)) return bad_frame("malformed payload of " + ti.name);
    e = remote::wire_envelope::make(ti.in->ops, v.payload);
  }
  if (v.request_id != 0) {
    e->reply = ti.in->reply_to(sink_, v.request_id);
    if (e->reply == nullptr) reply_error_now(v.request_id, ask_error::exception, "the handler replies nothing");
  }
  if (transfer) {
    to->ex->cell->enqueue(e);  // never blocks: the I/O thread is a never-block thread
  } else {
    queue_inbound(*to, static_cast<remote::wire_envelope*>(e));
  }
  return true;
}

void session::give_back_now(std::uint64_t loan) {
  append([&](std::string& out) { append_return(out, loan); });
}

void session::queue_inbound(const target& to, remote::wire_envelope* e) noexcept {
  detail::actor_cell* cell = to.ex->cell.get();
  if (chain_.cell != cell || chain_.count == max_chain) flush_inbound();
  e->account = to.account;
  if (chain_.count == 0) {
    chain_.cell = cell;
    chain_.first = e;
  } else {
    chain_.last->next.store(e, std::memory_order_relaxed);
  }
  chain_.last = e;
  ++chain_.count;
}

void session::flush_inbound() noexcept {
  if (chain_.count == 0) return;
  const inbound_chain c = std::exchange(chain_, inbound_chain{});
  if (c.first->account != nullptr) c.first->account->retain(c.count);
  // Never blocks: readers are never-block threads.
  c.cell->enqueue_chain(c.first, c.count);
}

detail::cell_ptr session::find_proxy(std::uint64_t id) {
  std::lock_guard lock(mx_);
  return find_proxy_locked(id);
}

detail::cell_ptr session::find_proxy_locked(std::uint64_t id) {
  auto it = proxies_.find(id);
  if (it == proxies_.end() || !it->second->try_add_ref()) return {};
  return detail::cell_ptr::adopt(it->second);
}

bool session::on_control(const frame_view& f) {
  switch (static_cast<frame_kind>(f.kind)) {
    case frame_kind::reply: {
      wire::Reply r;
      if (!parse(r, f)) return bad_frame("malformed REPLY");
      pending_ask a{};
      {
        std::lock_guard lock(wmx_);
        auto it = asks_.find(r.request_id());
        if (it == asks_.end()) return true;  // the session's asks were failed already
        a = it->second;
        asks_.erase(it);
      }
      if (r.error() == wire::ASK_OK) {
        if (!a.deliver(*a.slot, r.payload())) a.slot->fail(ask_error::exception, "malformed reply from " + peer_name_);
      } else {
        a.slot->fail(ask_from_wire(r.error()), r.message());
      }
      delete a.slot;
      return true;
    }
    case frame_kind::lookup: {
      wire::Lookup l;
      if (!parse(l, f)) return bad_frame("malformed LOOKUP");
      wire::LookupReply r;
      r.set_request_id(l.request_id());
      if (auto p = node_.find_published(l.name())) {
        r.set_found(true);
        r.set_actor(p->cell->id());
        r.set_actor_type(p->type->name());
        for (const auto& [wire_name, in] : p->accepts) r.add_accepts(wire_name);
      }
      append([&](std::string& out) { append_frame(out, frame_kind::lookup_reply, r); });
      return true;
    }
    case frame_kind::lookup_reply: {
      wire::LookupReply r;
      if (!parse(r, f)) return bad_frame("malformed LOOKUP_REPLY");
      std::shared_ptr<lookup_state> l;
      {
        std::lock_guard lock(mx_);
        auto it = lookups_.find(r.request_id());
        if (it == lookups_.end()) return true;  // timed out
        l = std::move(it->second);
        lookups_.erase(it);
      }
      std::lock_guard lock(l->mx);
      l->done = true;
      l->found = r.found();
      l->actor = r.actor();
      l->actor_type = r.actor_type();
      l->accepts.assign(r.accepts().begin(), r.accepts().end());
      l->cv.notify_all();
      return true;
    }
    case frame_kind::stop: {
      wire::Stop s;
      if (!parse(s, f)) return bad_frame("malformed STOP");
      if (detail::actor_cell* to = exposed_cell(s.target())) {
        to->enqueue_system(detail::make_stop_envelope(from_wire(s.reason()) == exit_reason::killed
                                                                ? exit_reason::killed
                                                                : exit_reason::stopped));
      }
      return true;
    }
    case frame_kind::monitor:
    case frame_kind::demonitor: {
      wire::Monitor m;
      if (!parse(m, f)) return bad_frame("malformed MONITOR");
      detail::actor_cell* ex = exposed_cell(m.target());
      detail::cell_ptr watcher = outbox();
      if (f.kind == static_cast<std::uint8_t>(frame_kind::demonitor)) {
        if (ex && watcher) ex->enqueue_system(remote::make_remote_demonitor(watcher.get(), m.ref()));
        return true;
      }
      if (ex && watcher) {
        ex->enqueue_system(remote::make_remote_monitor(watcher, m.ref()));
      } else {
        std::lock_guard lock(wmx_);
        send_down(m.target(), m.ref(), exit_reason::stopped, "no such actor");
        flush_locked();
      }
      return true;
    }
    case frame_kind::down: {
      wire::Down d;
      if (!parse(d, f)) return bad_frame("malformed DOWN");
      if (auto p = find_proxy(d.actor())) {
        static_cast<remote::proxy&>(*p).remote_down(d.ref(), from_wire(d.reason()), d.what());
      }
      return true;
    }
    case frame_kind::link:
    case frame_kind::unlink: {
      wire::Link l;
      if (!parse(l, f)) return bad_frame("malformed LINK");
      detail::actor_cell* ex = exposed_cell(l.target());
      if (f.kind == static_cast<std::uint8_t>(frame_kind::unlink)) {
        if (auto p = find_proxy(l.from()); p && ex) {
          static_cast<remote::proxy&>(*p).remote_unlink(ex->id());
          ex->enqueue_system(remote::make_unlink_request(p.get()));
        }
        return true;
      }
      if (!ex) {
        std::lock_guard lock(wmx_);
        send_exit(l.from(), l.target(), exit_reason::stopped, "no such actor");
        flush_locked();
        return true;
      }
      // Each remote actor the peer links from costs a proxy here, kept by
      // the link: a peer naming ever new ones must not make us hold proxies
      // without bound.
      bool too_many = false;
      {
        std::lock_guard lock(mx_);
        if (!proxies_.contains(l.from())) {
          too_many = linked_proxies_.size() >= max_linked_proxies;
          if (!too_many) linked_proxies_.insert(l.from());  // forget() takes it out
        }
      }
      if (too_many) return bad_frame("LINK from more than " + std::to_string(max_linked_proxies) + " remote actors");
      detail::cell_ptr p = proxy_for(l.from(), typeid(remote::unknown_actor));
      static_cast<remote::proxy&>(*p).remote_link(*ex);
      ex->enqueue_system(remote::make_link_request(p));
      return true;
    }
    case frame_kind::exit: {
      wire::Exit x;
      if (!parse(x, f)) return bad_frame("malformed EXIT");
      if (auto p = find_proxy(x.from())) {
        static_cast<remote::proxy&>(*p).remote_exit(x.target(), from_wire(x.reason()), x.what());
      }
      return true;
    }
    case frame_kind::heartbeat: return true;
    case frame_kind::give_back: {
      if (f.body.size() != 8) return bad_frame("malformed RETURN");
      const std::uint64_t loan = framing::get_fixed64(f.body);
      shared_bytes back;  // freed (into the pool) outside the lock, before it is counted
      {
        std::lock_guard lock(wmx_);
        if (auto it = lent_.find(loan); it != lent_.end()) {
          back = std::move(it->second);
          lent_.erase(it);
        }
      }
      if (back.empty()) return bad_frame("RETURN of a buffer never lent");  // not under wmx_: it ends the session
      // A RETURN is the peer's word only: it may keep a read-only mapping
      // (the seals rule out writing) and read what this memory holds next.
      if (!node_.opts.reuse_returned_buffers) back.never_reuse();
      back = shared_bytes();  // into the pool (or freed) before it counts as back
      node_.counters.transfers_back.fetch_add(1, std::memory_order_release);
      return true;
    }
    case frame_kind::flow_credit: {
      wire::FlowCredit c;
      if (!parse(c, f)) return bad_frame("malformed FLOW_CREDIT");
      if (c.messages() > static_cast<std::uint64_t>(1) << 32) return bad_frame("FLOW_CREDIT grants too much");
      credit_from_peer(c.target(), static_cast<std::int64_t>(c.messages()));
      return true;
    }
    case frame_kind::goodbye: {
      wire::Goodbye g;
      std::string why = parse(g, f) ? g.reason() : std::string("(unreadable)");
      end_from_reader("the peer left: " + why.substr(0, 256), false);
      log().info("troupe node {}: {} left: {}", node_.opts.name, peer_name_, why.substr(0, 256));
      return false;
    }
    case frame_kind::hello:
    case frame_kind::auth:
    case frame_kind::welcome:
    case frame_kind::refuse: return bad_frame("handshake frame after the handshake");
    default: return bad_frame("unknown frame kind " + std::to_string(f.kind));
  }
}

// -- outbound (I/O thread, from proxies) -------------------------------------------

void session::begin_turn() { wmx_.lock(); }

bool session::congested() const noexcept {
  return !wclosed_ && out_.size() + (writing_ ? wbuf_.size() : 0) > out_high_water;
}

bool session::wait_writable(remote::proxy& p) {
  std::lock_guard lock(wmx_);
  if (!congested()) return false;
  waiting_.emplace_back(&p);
  return true;
}

std::vector<detail::cell_ptr> session::drained_locked() {
  std::vector<detail::cell_ptr> wake;
  if (!waiting_.empty() && (wclosed_ || out_.size() + (writing_ ? wbuf_.size() : 0) < out_low_water)) {
    wake.swap(waiting_);
  }
  return wake;
}

void session::end_turn() noexcept {
  if (msgs_out_turn_ != 0) {
    node_.counters.msgs_out.fetch_add(msgs_out_turn_, std::memory_order_relaxed);
    node_.counters.frames_out.fetch_add(std::exchange(msgs_out_turn_, 0), std::memory_order_relaxed);
  }
  settle_turn();
  flush_locked();
  wmx_.unlock();
}

void session::note_sent(std::uint64_t target, std::int64_t units) noexcept {
  if (units == 0 || target == 0) return;
  if (turn_units_ != 0 && turn_target_ != target) settle_turn();  // a turn is one proxy's: never, but cheap to be exact
  turn_target_ = target;
  turn_units_ += units;
}

void session::settle_turn() noexcept {
  if (turn_units_ == 0) return;
  const std::int64_t units = std::exchange(turn_units_, 0);
  try {
    std::lock_guard lock(mx_);
    debt& d = debts_[turn_target_];
    d.units += units;
    // The proxy is in this very turn (it holds a reference): it is the one registered.
    if (d.units >= remote::credit_step && !d.pin) d.pin = find_proxy_locked(turn_target_);
  } catch (...) {
    // Out of memory for the entry: this debt goes uncounted (a proxy made
    // afresh for the actor may then overrun the peer's window).
  }
}

void session::credit_from_peer(std::uint64_t target, std::int64_t units) {
  detail::cell_ptr unpinned;  // released last, outside the lock: it may be the proxy's last reference
  detail::cell_ptr p;
  {
    // The lock proxy_for registers proxies under: a proxy made afresh gets
    // exactly the grants taken off the debt after it was made, so the debt
    // stays what it sent plus less than a step (see debts_).
    std::lock_guard lock(mx_);
    if (auto d = debts_.find(target); d != debts_.end()) {
      d->second.units -= units;
      if (d->second.units < remote::credit_step) unpinned = std::move(d->second.pin);
      if (d->second.units <= 0) debts_.erase(d);
    }
    p = find_proxy_locked(target);
  }
  if (p) static_cast<remote::proxy&>(*p).remote_credit(units);
}

std::int64_t session::send_message(std::uint64_t target, detail::envelope* e) {
  if (wclosed_) {
    core_->count_drop(drop_reason::node_down, *e->ops->type);
    detail::discard(e, ask_error::node_down, "the connection to the receiver's node is closed");
    return 0;
  }
  const detail::wire_ops* w = e->ops->wire;
  std::uint64_t request = 0;
  if (e->reply != nullptr) {
    if (w->deliver_reply == nullptr) {
      detail::discard(e, ask_error::exception, "the reply type cannot cross the network");
      return 0;
    }
    request = next_request_++;
    asks_.emplace(request, pending_ask{e->reply, w->deliver_reply});
    e->reply = nullptr;
  }
  // A run of one type skips the map.
  bool fresh = false;
  if (last_type_out_ == nullptr || last_type_out_->first != w) {
    const auto ins = types_out_.try_emplace(w, next_type_id_);
    fresh = ins.second;
    if (fresh) ++next_type_id_;
    last_type_out_ = &*ins.first;
  }
  const std::uint32_t type_id = last_type_out_->second;
  const std::size_t start = out_.size();
  // Takes the frame back out: nothing of it may reach the peer.
  auto undo = [&](const char* why, drop_reason r) {
    out_.resize(start);
    if (fresh) {
      types_out_.erase(w);
      --next_type_id_;
      last_type_out_ = nullptr;
    }
    core_->count_drop(r, *e->ops->type);
    if (request != 0) {
      auto a = asks_.find(request);
      a->second.slot->fail(ask_error::exception, why);
      delete a->second.slot;
      asks_.erase(a);
    }
  };
  // A large shared_bytes to a same-host peer: hand over its memory, not its bytes.
  std::int64_t cost = remote::transfer_cost;
  bool transfer = false;
  if (polled_ && e->ops->destroy == &detail::destroy_envelope<shared_bytes>) [[unlikely]] {
    auto& b = static_cast<detail::message_envelope<shared_bytes>*>(e)->value;
    // Above max_transfer_bytes it is copied: a peer with our settings would
    // refuse the loan. So is it while many passed descriptors wait for
    // their frames to be written (see max_unwritten_fds).
    transfer = b.fd() >= 0 && b.size() >= shared_bytes::transfer_threshold && b.size() <= node_.opts.max_transfer_bytes &&
               fds_in_out_ + fds_in_wbuf_ < max_unwritten_fds && b.seal() && stream_->pass_fd(b.fd());
    if (transfer) ++fds_in_out_;
  }
  const std::string_view name = fresh ? std::string_view(w->name()) : std::string_view();
  try {
    if (transfer) {
      // Lent, not given: kept mapped here until the peer gives it back.
      auto& b = static_cast<detail::message_envelope<shared_bytes>*>(e)->value;
      const std::uint64_t size = b.size();
      const std::uint64_t loan = next_loan_++;
      lent_.emplace(loan, std::move(b));
      append_message_frame(out_, target, 0, type_id, name, request,
                           [&](std::string& o) {
                             framing::put_fixed64(o, size);
                             framing::put_fixed64(o, loan);
                           },
                           frame_kind::transfer);
      node_.counters.transfers_out.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (e->ops->destroy == &remote::wire_envelope::destroy) {
        // Usually encoded already by `tell` on the sender's thread: copy its bytes.
        const std::string_view payload = static_cast<const remote::wire_envelope*>(e)->payload();
        append_encoded_message_frame(out_, target, 0, type_id, name, request, payload);
        cost = remote::credit_cost(payload.size());  // the receiver computes the same
      } else {
        append_message_frame(out_, target, 0, type_id, name, request, [&](std::string& o) {
          const std::size_t before = o.size();
          w->encode(*e, o);
          cost = remote::credit_cost(o.size() - before);
        });
      }
    }
  } catch (const std::exception& ex) {
    log().error("troupe node {}: encoding a {} failed: {}", node_.opts.name, w->name(), ex.what());
    undo("the message could not be encoded", drop_reason::not_serializable);
    e->ops->destroy(e);
    return 0;
  } catch (...) {
    undo("the message could not be encoded", drop_reason::not_serializable);
    e->ops->destroy(e);
    return 0;
  }
  if (const std::size_t frame_len = out_.size() - start - 4; frame_len > peer_max_frame_) {
    log().error("troupe node {}: a {} of {} bytes is larger than {} accepts ({} bytes): dropped", node_.opts.name,
                w->name(), frame_len, peer_name_, peer_max_frame_);
    undo("message larger than the peer's maximum frame", drop_reason::not_serializable);
    cost = 0;
  } else {
    ++msgs_out_turn_;
    note_sent(target, cost);
  }
  e->ops->destroy(e);
  return cost;
}

void session::send_stop(std::uint64_t target, exit_reason why) {
  wire::Stop s;
  s.set_target(target);
  s.set_reason(to_wire(why));
  append_frame(out_, frame_kind::stop, s);
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void session::send_monitor(std::uint64_t target, std::uint64_t ref) {
  append_frame(out_, frame_kind::monitor, monitor_body(target, ref));
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void session::send_demonitor(std::uint64_t target, std::uint64_t ref) {
  append_frame(out_, frame_kind::demonitor, monitor_body(target, ref));
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void session::send_link(std::uint64_t target, std::uint64_t local) {
  append_frame(out_, frame_kind::link, link_body(target, local));
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void session::send_unlink(std::uint64_t target, std::uint64_t local) {
  append_frame(out_, frame_kind::unlink, link_body(target, local));
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void session::send_exit(std::uint64_t target, std::uint64_t local, exit_reason why, const std::string& what) {
  wire::Exit x;
  x.set_target(target);
  x.set_from(local);
  x.set_reason(to_wire(why));
  x.set_what(what.substr(0, max_what_bytes));
  append_frame(out_, frame_kind::exit, x);
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void session::send_down(std::uint64_t local, std::uint64_t ref, exit_reason why, const std::string& what) {
  wire::Down d;
  d.set_actor(local);
  d.set_ref(ref);
  d.set_reason(to_wire(why));
  d.set_what(what.substr(0, max_what_bytes));
  append_frame(out_, frame_kind::down, d);
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void session::send_raw(std::string&& frame) {
  if (!wclosed_) out_ += frame;  // sizes were checked where the frames were made
  node_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void session::forget(remote::proxy& p) noexcept {
  std::lock_guard lock(mx_);
  auto it = proxies_.find(p.remote_id());
  if (it == proxies_.end() || it->second != &p) return;
  proxies_.erase(it);
  linked_proxies_.erase(p.remote_id());
  // What the proxy owed and was not pinned for (less than a credit step) is
  // forgiven: the credit limit has room for it, and the entry would
  // otherwise stay for the session's life.
  if (auto d = debts_.find(p.remote_id()); d != debts_.end() && !d->second.pin) debts_.erase(d);
}

// -- any thread ------------------------------------------------------------------

bool session::has_pending_output() {
  // Proxies first: a turn moves their messages into the buffers below.
  {
    std::lock_guard lock(mx_);
    for (auto& [id, p] : proxies_) {
      if (p->box().depth() != 0 && !p->box().is_closed()) return true;
    }
  }
  std::lock_guard lock(wmx_);
  return !wclosed_ && (writing_ || !out_.empty());
}

void session::wait_ended() {
  std::unique_lock lock(mx_);
  ended_cv_.wait(lock, [&] { return ended_; });
}

void session::close(const std::string& reason) {
  std::lock_guard lock(mx_);
  if (ended_) return;  // over (and the node, with its I/O context, may be gone)
  asio::post(node_.io, [self = shared_from_this(), reason] { self->leave(reason); });
}

bool session::proxies_closed() {
  std::lock_guard lock(mx_);
  for (auto& [id, p] : proxies_) {
    if (!p->box().is_closed()) return false;
  }
  return true;
}

bool session::post_frame(std::string frame) {
  if (!alive()) return false;
  detail::cell_ptr out = outbox();
  if (out->box().depth() > max_outbox_frames) [[unlikely]] {
    // Replies and credit wait there while the connection is congested: a
    // peer that keeps asking and never reads would have them pile up. (On
    // the I/O thread: this may run in a turn that holds wmx_.)
    try {
      asio::post(node_.io, [self = shared_from_this()] {
        std::lock_guard lock(self->wmx_);
        if (!self->wclosed_) self->stalled_locked(std::to_string(max_outbox_frames) + " frames waiting to be sent");
      });
    } catch (...) {
    }
    return false;
  }
  return accepted(out->enqueue(remote::make_raw_frame(std::move(frame))));
}

detail::cell_ptr session::proxy_for(std::uint64_t id, const std::type_info& type) {
  std::unique_lock lock(mx_);
  if (detail::cell_ptr p = find_proxy_locked(id)) return p;
  // The outbox (id 0) carries replies: unbounded, so that answering never mutes an actor.
  mailbox_options mo = mailbox_options::make_unbounded();
  if (id != 0) {
    mo.capacity = proxy_capacity_;
    mo.low_water = mo.capacity / 2;
  }
  auto* p = new remote::proxy(core_, mo, shared_from_this(), id, type);
  proxies_[id] = p;
  const bool gone = !alive_.load(std::memory_order_acquire);
  lock.unlock();
  detail::cell_ptr out = detail::cell_ptr::adopt(p);
  if (gone) p->node_down();  // nobody else has it yet: safe off the I/O thread
  return out;
}

result<detail::cell_ptr> session::lookup(std::string_view name, const std::type_info& type,
                                         const std::vector<std::string>& required, std::chrono::milliseconds timeout) {
  auto l = std::make_shared<lookup_state>();
  std::uint64_t rid = 0;
  {
    std::lock_guard lock(mx_);
    if (!alive_.load(std::memory_order_acquire)) return failure{ask_error::node_down, "node " + peer_name_ + " is down"};
    rid = next_lookup_++;
    lookups_.emplace(rid, l);
  }
  wire::Lookup req;
  req.set_request_id(rid);
  req.set_name(std::string(name));
  std::string frame;
  append_frame(frame, frame_kind::lookup, req);
  if (!post_frame(std::move(frame))) return failure{ask_error::node_down, "node " + peer_name_ + " is down"};
  std::unique_lock lk(l->mx);
  if (!l->cv.wait_for(lk, timeout, [&] { return l->done; })) {
    lk.unlock();
    std::lock_guard lock(mx_);
    lookups_.erase(rid);
    return failure{ask_error::timeout, "no answer from " + peer_name_ + " within the timeout"};
  }
  if (!l->error.empty()) return failure{ask_error::node_down, l->error};
  if (!l->found) return failure{ask_error::actor_stopped, "nothing is published as '" + std::string(name) + "' on " + peer_name_};
  if (required.empty() && l->actor_type != type.name()) {
    return failure{ask_error::actor_stopped, "'" + std::string(name) + "' on " + peer_name_ +
                                                 " is not of the requested actor type (it is " + l->actor_type + ")"};
  }
  for (const std::string& m : required) {
    if (std::find(l->accepts.begin(), l->accepts.end(), m) == l->accepts.end()) {
      return failure{ask_error::actor_stopped,
                     "'" + std::string(name) + "' on " + peer_name_ + " does not accept " + m + " from other nodes"};
    }
  }
  const std::uint64_t id = l->actor;
  lk.unlock();
  return proxy_for(id, type);
}

} // namespace troupe::transport
