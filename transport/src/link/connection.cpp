#include "link/connection.hpp"

#include <algorithm>

#include "node/node_impl.hpp"
#include "protocol/control_codec.hpp"
#include "streams/shm_stream.hpp"
#include "streams/tls_stream.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe::transport {

/// The acceptor's refusal of a second connection from a peer it has one with.
const char* const already_connected = "already connected";

connection::connection(node_impl& node, std::unique_ptr<byte_stream> stream, handshake::role role,
                       std::optional<dial_target> dial, std::shared_ptr<dial_state> waiter)
    : node_(node),
      core_(&node.core),
      stream_(std::move(stream)),
      hs_(role, node.opts.name, node.incarnation, node.cookie, node.opts.max_frame_bytes,
          [&node](const std::string& name, std::uint64_t incarnation) {
            handshake::link_state s;
            auto c = node.find_connection(name);
            if (!c || c->peer_incarnation() != incarnation) return s;
            if (!c->suspended()) {
              s.holds_live = true;
            } else {
              s.session = c->session();  // resume it: every frame after what we delivered comes again
              s.delivered = c->delivered();
            }
            return s;
          }),
      dial_(std::move(dial)),
      waiter_(std::move(waiter)),
      user_dial_(waiter_ != nullptr),
      endpoint_(stream_->describe()),
      source_(stream_->peer_host().empty() ? endpoint_ : stream_->peer_host()),
      counters_(node.counters),
      reader_(*stream_, counters_, node.opts.max_frame_bytes),
      writer_(*stream_, *this, counters_, node.opts.max_frame_bytes),  // and the peer's: on_established
      inbound_(*this, node.opts.max_frame_bytes),
      outbound_(*this),
      proxies_(std::make_shared<proxy_table>(core_, node.opts.remote_mailbox_capacity, node.opts.max_peer_links)),
      watches_(node.opts.max_peer_monitors) {}

connection::~connection() = default;

void connection::start() {
  if (closed_) return;  // ended while it waited to start (evicted, the node stopping)
  reader_.touch();
  if (node_.opts.listen) hs_.advertise(node_.opts.listen_host, node_.listen.port());
  writer_.append([&](std::string& out) { hs_.start(out); });
  timer_ = std::make_unique<asio::steady_timer>(node_.io);
  timer_->expires_after(node_.opts.handshake_timeout);
  timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_ || self->established_) return;
    self->end(close_reason::handshake_timeout,
              "not finished within " + std::to_string(self->node_.opts.handshake_timeout.count()) + " ms");
  });
  read_more();
}

// -- reading (the I/O thread) -----------------------------------------------------

void connection::read_more() {
  if (stopped() || !stream_) return;
  if (polled_) {
    // From here on idle workers read too; the I/O thread waits on the doorbell.
    polling_ = core_->pool().add_poller(this);
    if (!polling_) {
      log().info("troupe node {}: {}: too many polled connections: this one is read by the I/O thread only",
                 node_.opts.name, endpoint_);
    }
    wait_polled();
    return;
  }
  stream_->async_read_some(reader_.space(), reader_.room(),
                           [self = shared_from_this(), carrier = carrier_](const boost::system::error_code& ec,
                                                                           std::size_t n) {
                             if (self->closed_ || carrier != self->carrier_) return;  // over, or an old carrier's
                             if (ec) return self->read_failed(ec);
                             if (self->reader_.consume(n, *self)) self->read_more();
                           });
}

void connection::wait_polled(bool if_ready_now) {
  if (closed_) return;
  stream_->async_wait_readable(
      [self = shared_from_this()] {
        if (self->closed_) return;
        // Busy: a worker holds the token and looks again when it lets go;
        // we sleep until the doorbell rings.
        self->wait_polled(self->reader_.drain(*self) != frame_reader::drained::busy);
      },
      if_ready_now);
}

void connection::watch(bool on) noexcept {
  stream_->watch(on);
  // Bytes written while the writer saw us watching rang no doorbell.
  if (!on) poll();
}

bool connection::poll() noexcept {
  if (!stream_->readable()) return false;
  return reader_.drain(*this) == frame_reader::drained::some;
}

void connection::read_failed(const boost::system::error_code& ec) {
  // A shared-memory peer lying about its ring is bad input, counted like a bad frame.
  if (ec.category() == shm_category()) {
    return end_from_reader(established_ ? close_reason::bad_frame : close_reason::handshake_failed, ec.message());
  }
  if (ec.category() == tls_category()) return end_from_reader(close_reason::tls_failed, ec.message());
  if (ec == asio::error::eof) return end_from_reader(close_reason::peer_closed, {});
  end_from_reader(close_reason::read_failed, ec.message());
}

void connection::read_done() noexcept {
  inbound_.flush();
  inbound_.count_read();
  if (established_ && !stopped()) {
    try {
      ack_if_due();
    } catch (...) {
      // No memory for an ACK: the heartbeat's goes.
    }
  }
}

bool connection::bad_frame(std::string detail) {
  end_from_reader(close_reason::bad_frame, std::move(detail));
  return false;
}

void connection::end_from_reader(close_reason why, std::string detail) {
  if (node_.io.get_executor().running_in_this_thread()) {
    // What this read queued before the end goes first (its cells are held by
    // the cache that the end clears), and before node_down reaches the proxies.
    inbound_.flush();
    end(why, detail);
    return;
  }
  if (read_stopped_.exchange(true)) return;
  end_soon(why, std::move(detail));
}

bool connection::on_frame(const frame_view& f) {
  if (stopped()) return false;
  if (!established_) return on_handshake_frame(f);
  const std::uint64_t seq = delivered_.load(std::memory_order_relaxed) + 1;
  if (f.seq != static_cast<std::uint32_t>(seq)) [[unlikely]] return out_of_sequence(f);
  delivered_.store(seq, std::memory_order_relaxed);  // only the reader writes it
  unacked_bytes_ += f.body.size();
  if (f.kind == static_cast<std::uint8_t>(frame_kind::message)) [[likely]] return inbound_.on_message(f);
  inbound_.flush();  // a control frame or TRANSFER comes after the messages read before it
  if (f.kind == static_cast<std::uint8_t>(frame_kind::transfer)) return inbound_.on_transfer(f);
  return on_control(f);
}

// -- the handshake ------------------------------------------------------------------

bool connection::on_handshake_frame(const frame_view& f) {
  std::string reply;
  switch (hs_.on_frame(f, reply)) {
    case handshake::status::in_progress:
      if (!reply.empty()) writer_.append([&](std::string& out) { out += reply; });
      return true;
    case handshake::status::authenticated: return on_authenticated(f, reply);
    case handshake::status::established: return on_welcome(f);
    case handshake::status::failed: return on_handshake_failed(reply);
  }
  return false;
}

bool connection::on_welcome(const frame_view& f) {
  peer_name_ = hs_.peer_name();
  peer_incarnation_ = hs_.peer_incarnation();
  if (const auto why = uncertified(); !why.empty()) {
    end(close_reason::not_certified, why);
    return false;
  }
  if (hs_.offered_session() != 0) {
    auto s = node_.session_for(peer_name_, peer_incarnation_, hs_.offered_session());
    if (hs_.resumed()) {
      if (!s) {
        end(close_reason::handshake_failed, "the peer resumed a session this node no longer holds");
        return false;
      }
      s->resume_from(*this, f);
      return false;
    }
    // The peer ended the session we offered (it was not back in time
    // there): ours ends too, and this connection starts a new one.
    if (s) s->end(close_reason::session_lost, "starting a new session");
  }
  on_established();
  return false;  // the reader splits again, with the connection's limit
}

bool connection::on_authenticated(const frame_view& f, std::string& reply) {
  peer_name_ = hs_.peer_name();
  peer_incarnation_ = hs_.peer_incarnation();
  if (const auto why = uncertified(); !why.empty()) {
    hs_.refuse(why, reply);  // the peer learns why, inside TLS
    writer_.append([&](std::string& out) { out += reply; });
    end(close_reason::not_certified, why);
    return false;
  }
  if (hs_.peer_session() != 0) {
    if (auto s = node_.session_for(peer_name_, peer_incarnation_, hs_.peer_session())) {
      s->resume_from(*this, f);
      return false;
    }
  }
  const std::string refusal = node_.admit(*this);
  if (!refusal.empty()) {
    hs_.refuse(refusal, reply);
    writer_.append([&](std::string& out) { out += reply; });
    if (refusal == already_connected) {
      duplicate_ = true;  // not a failure: the peer uses the connection it has
      end(close_reason::duplicate, "refused " + peer_name_);
    } else {
      end(close_reason::handshake_failed, "refused " + peer_name_ + ": " + refusal);
    }
    return false;
  }
  hs_.welcome(reply);
  writer_.append([&](std::string& out) { out += reply; });
  on_established();
  return false;  // the reader splits again, with the connection's limit
}

std::string connection::uncertified() const {
  if (!stream_->secured() || !node_.tls) return {};
  const std::string want = node_.tls->name_of(peer_name_);
  const auto names = stream_->certified_names();
  if (std::find(names.begin(), names.end(), want) != names.end()) return {};
  std::string have;
  for (const auto& n : names) have += (have.empty() ? "" : ", ") + n;
  return "the peer says it is " + want + " but its certificate names " + (have.empty() ? "no troupe:// URI" : have);
}

bool connection::on_handshake_failed(std::string& reply) {
  // Only a peer that proved the cookie may call us a duplicate: the refusal
  // stops redials and goes unlogged, which anybody who can answer our dial
  // could otherwise use to cut us off from a peer.
  if (hs_.peer_verified() && hs_.peer_refusal() == already_connected) {
    peer_name_ = hs_.peer_name();
    if (auto held = node_.find_connection(peer_name_); !held || held->suspended()) {
      // The peer still holds a connection we do not (it has not noticed it
      // is dead yet, or ours died since our AUTH): dial again until it lets
      // go, or we would stay apart for good.
      refused_stale_ = true;
      end(close_reason::peer_holds_stale, hs_.reason());
      return false;
    }
    // connect() to a node we already have a connection with: that one.
    duplicate_ = true;
    end(close_reason::duplicate, hs_.reason());
    return false;
  }
  writer_.append([&](std::string& out) { out += reply; });  // the REFUSE, with the reason
  end(hs_.auth_failure() ? close_reason::auth_failed : close_reason::handshake_failed, hs_.reason());
  return false;
}

void connection::on_established() {
  established_ = true;
  reader_.open_up();
  session_ = hs_.session();
  polled_ = stream_->pollable();
  // Reliable delivery over a socket that can be dialled again: frames are
  // kept until acknowledged, and a broken carrier is only an interruption.
  resumable_ = node_.opts.delivery == node_options::delivery_mode::reliable && !polled_ && worker_pid_ < 0 &&
               (dial_.has_value() || from_listener_);
  if (resumable_) writer_.retain();
  peer_listener_ = reachable_listener(hs_.peer_listen_host(), hs_.peer_listen_port(), stream_->peer_host());
  // Shared memory: polled, and buffers are handed over, not copied.
  if (polled_) lender_ = make_lender(poster());
  // A frame we send is at most what the peer takes and what we take: a
  // peer's HELLO never raises this node's limits (its output cap among them).
  peer_max_frame_ = std::min(hs_.peer_max_frame() != 0 ? hs_.peer_max_frame() : default_max_frame_bytes,
                             node_.opts.max_frame_bytes);
  writer_.locked([&] { writer_.set_max_frame(peer_max_frame_); });
  asker_ = make_asker(weak_from_this());
  alive_.store(true, std::memory_order_release);
  auto w = std::exchange(waiter_, nullptr);
  if (!node_.connection_up(shared_from_this())) {
    // Both nodes dialled each other; the other connection carries on.
    if (w) w->finish(node_.find_connection(peer_name_), {}, "a duplicate connection was closed");
    return;
  }
  log().info("troupe node {}: connected to {} ({}, incarnation {:016x})", node_.opts.name, peer_name_, endpoint_,
             peer_incarnation_);
  if (w) w->finish(shared_from_this(), {}, {});
  arm_heartbeat();
}

// -- the heartbeat ------------------------------------------------------------------

void connection::arm_heartbeat() {
  if (closed_) return;
  timer_->expires_after(node_.opts.heartbeat_interval);
  timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_) return;
    self->on_heartbeat();
  });
}

void connection::on_heartbeat() {
  const auto silent = std::chrono::steady_clock::now() - reader_.last_read();
  if (silent > node_.opts.heartbeat_timeout) {
    end(close_reason::heartbeat_timeout,
        "nothing heard for " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()) +
            " ms");
    return;
  }
  if (writer_.check_stalled(node_.opts.write_timeout)) return;  // it ends the connection
  inbound_.return_idle_credit();  // so the peer's windows for actors it no longer uses fill and go
  report_credit_stalls();
  const std::uint64_t d = delivered();
  const std::uint64_t seq = ++heartbeat_seq_;
  heartbeat_sent_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  heartbeat_sent_seq_.store(seq, std::memory_order_release);
  writer_.append([&](std::string& out) {
    control::append_heartbeat(out, seq);
    if (ack_sent_.exchange(d, std::memory_order_relaxed) != d) control::append_ack(out, d);  // not acknowledged yet
  });
  arm_heartbeat();
}

bool connection::on_heartbeat_frame(std::string_view body) {
  std::uint64_t seq = 0, echo = 0;
  if (!control::parse_heartbeat(body, seq, echo)) return bad_frame("malformed HEARTBEAT");
  const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (echo != 0) {
    // Only the latest heartbeat is timed (an older answer is late: skipped).
    if (echo == heartbeat_sent_seq_.load(std::memory_order_acquire)) {
      rtt_ns_.store(now - heartbeat_sent_ns_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    return true;
  }
  // A peer's own heartbeat: answered at once, but not more often than twice
  // an interval (a peer cannot make us write more than it does).
  const auto half = std::chrono::duration_cast<std::chrono::steady_clock::duration>(node_.opts.heartbeat_interval / 2);
  if (seq != 0 && now - answered_ns_ >= half.count()) {
    answered_ns_ = now;
    writer_.append([&](std::string& out) { control::append_heartbeat(out, 0, seq); });
  }
  return true;
}

void connection::report_credit_stalls() {
  for (const auto& s : proxies_->windows().overdue(std::chrono::steady_clock::now(), node_.opts.heartbeat_timeout)) {
    counters_.add(counter::credit_stalls);
    const auto suffix = node_.log_limit.allow(log_limiter::credit_stall_key);
    if (!suffix) continue;
    log().warn("troupe node {}: messages to actor {} on {} have waited {} ms for flow credit (that actor is much "
               "slower than its senders, or credit was lost){}",
               node_.opts.name, s.remote, peer_name_, s.waited.count(), *suffix);
  }
}

// -- writer_host, frame_poster --------------------------------------------------------

void connection::post_write() {
  asio::post(node_.io, [self = shared_from_this()] { self->writer_.write_pending(); });
}

bool connection::post_frame(std::string frame) {
  if (!alive()) return false;
  detail::cell_ptr out = outbox();
  if (out->box().depth() > max_outbox_frames) [[unlikely]] {
    // Replies and credit wait there while the connection is congested: a
    // peer that keeps asking and never reads would have them pile up.
    end_soon(close_reason::write_stall, std::to_string(max_outbox_frames) + " frames waiting to be sent");
    return false;
  }
  return accepted(out->enqueue(make_frame_envelope(std::move(frame))));
}

detail::cell_ptr connection::outbox() {
  std::unique_lock lock(outbox_mx_);
  if (outbox_ != nullptr && outbox_->try_add_ref()) return detail::cell_ptr::adopt(outbox_);
  // Replies and credit: unbounded, so that answering never mutes an actor,
  // and it spends no credit. Each session has its own.
  auto* p = new detail::remote_proxy(core_, mailbox_options::make_unbounded(), as_link(), 0, typeid(outbox_tag));
  outbox_ = p;  // replaces one being freed (its forget then finds another)
  const bool ended = outbox_ended_;
  lock.unlock();
  detail::cell_ptr out = detail::cell_ptr::adopt(p);
  if (ended) p->node_down("node down", nullptr, true);  // nobody else has it yet
  return out;
}

void connection::forget_outbox(const detail::remote_proxy& p) noexcept {
  std::lock_guard lock(outbox_mx_);
  if (outbox_ == &p) outbox_ = nullptr;
}

void connection::end_outbox(const std::string& what) noexcept {
  std::unique_lock lock(outbox_mx_);
  outbox_ended_ = true;
  detail::remote_proxy* p = outbox_ != nullptr && outbox_->try_add_ref() ? outbox_ : nullptr;
  lock.unlock();
  if (p == nullptr) return;
  // What the peer watched here is forgotten: one pass per watched actor.
  try {
    for (const std::uint64_t target : watches_.take_all()) {
      if (detail::actor_cell* ex = inbound_.exposed_cell(target)) p->demonitor_all_local(*ex);
    }
  } catch (...) {
    // No memory to list them: the entries go when the actors stop.
  }
  p->node_down(what, nullptr, true);
  p->release();
}

bool connection::outbox_closed() {
  std::lock_guard lock(outbox_mx_);
  return outbox_ == nullptr || outbox_->box().is_closed();
}

detail::cell_ptr connection::proxy_for(std::uint64_t id, const std::type_info& type) {
  // The proxies' link is the outbound path, sharing ownership of this
  // connection. An ended session's table is served by the next one. Id 0
  // (which a peer may name) is the session's outbox, never in the table.
  if (id == 0) return outbox();
  auto c = current();
  return c->proxies_->get(id, type, c->as_link());
}

bool connection::take_proxies(std::shared_ptr<proxy_table> earlier) {
  if (!proxies_->empty()) return false;
  proxies_ = std::move(earlier);
  return true;
}

std::shared_ptr<connection> connection::current() {
  if (alive()) return shared_from_this();
  auto next = proxies_->serving();
  return next && next->alive() ? next : shared_from_this();
}

void connection::reply_error_now(std::uint64_t request, ask_error code, const std::string& message) {
  inbound_.flush();  // the messages read before reach their actors before the peer hears of this one
  writer_.append([&](std::string& out) { control::append_reply_error(out, request, code, message); });
}

} // namespace troupe::transport
