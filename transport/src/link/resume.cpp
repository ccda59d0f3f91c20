// The session side of a connection (reliable delivery): numbering what
// arrives, acknowledging it, and living through the loss of a carrier.
//
// A transport fault (close_rule::resumes) suspends the session: the
// carrier is dropped, the writer keeps every frame the peer has not
// acknowledged, proxies and asks stay as they are, and a timer waits
// node_options::down_after. The side that dialled dials again; the new
// connection's handshake names the session and how far each side got, and
// hands its stream over (resume_from): the writer sends the rest again, in
// order, before anything new, and the reader expects the next number.
// Evidence that the peer is gone (its address refuses connections, a new
// incarnation, a GOODBYE) or the timer ends the session for good.
#include "link/connection.hpp"
#include "node/node_impl.hpp"
#include "protocol/control_codec.hpp"

namespace troupe::transport {

namespace {
/// The reader acknowledges at least every this many frames ...
constexpr std::uint64_t ack_every_frames = 1024;
/// ... or bytes (whichever comes first), and each heartbeat what is left.
constexpr std::size_t ack_every_bytes = std::size_t{1} << 20;

std::string ms(std::chrono::steady_clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}
} // namespace

std::optional<asio::ip::tcp::endpoint> reachable_listener(const std::string& host, std::uint16_t port,
                                                          const std::string& seen_from) {
  if (port == 0 || seen_from.empty()) return std::nullopt;  // it does not listen, or not a TCP link
  boost::system::error_code ec;
  auto listens = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;  // a name: not resolved on the I/O thread for a probe
  const auto from = asio::ip::make_address(seen_from, ec);
  if (ec) return std::nullopt;
  // A wildcard listener is reached where the peer connects from; its
  // loopback only from this host.
  if (listens.is_unspecified()) listens = from;
  if (listens.is_loopback() && !from.is_loopback()) return std::nullopt;
  return asio::ip::tcp::endpoint(listens, port);
}

bool connection::out_of_sequence(const frame_view& f) {
  if (!sequenced(f.kind)) return bad_frame("handshake frame after the handshake");
  const auto due = static_cast<std::uint32_t>(delivered() + 1);
  end_from_reader(close_reason::out_of_sequence,
                  "frame " + std::to_string(f.seq) + " where " + std::to_string(due) + " was due");
  return false;
}

void connection::ack_if_due() {
  const std::uint64_t d = delivered();
  if (d - ack_sent_.load(std::memory_order_relaxed) < ack_every_frames && unacked_bytes_ < ack_every_bytes) return;
  ack_sent_.store(d, std::memory_order_relaxed);
  unacked_bytes_ = 0;
  writer_.append([&](std::string& out) { control::append_ack(out, d); });
}

bool connection::on_ack(std::string_view body) {
  std::uint64_t d = 0;
  if (!control::parse_ack(body, d)) return bad_frame("malformed ACK");
  if (!writer_.acked(d)) return bad_frame("ACK of frame " + std::to_string(d) + ", never sent");
  return true;
}

void connection::drop_carrier() {
  ++carrier_;  // the old stream's read completions are not ours
  writer_.detach();
  if (stream_) stream_->close();
  stream_.reset();
}

void connection::suspend(close_reason why, const std::string& reason) {
  suspended_.store(true, std::memory_order_release);
  suspended_at_ = std::chrono::steady_clock::now();
  node_.counters.add(counter::links_interrupted);
  const close_rule& rule = rule_of(why);
  if (rule.first != counter::count_) node_.counters.add(rule.first);
  if (const auto suffix = node_.log_limit.allow(static_cast<std::size_t>(why))) {
    log().warn("troupe node {}: link with {} ({}) interrupted: {}; {} (down after {} ms){}", node_.opts.name,
               peer_name_, endpoint_, reason, dial_ ? "dialling again" : "waiting for it to dial again",
               node_.opts.down_after.count(), *suffix);
  }
  drop_carrier();
  inbound_.flush();
  arm_down_timer();
  node_.link_interrupted(*this);
}

void connection::arm_down_timer() {
  timer_->expires_after(node_.opts.down_after);
  timer_->async_wait([self = shared_from_this(), carrier = carrier_](const boost::system::error_code& ec) {
    if (ec || self->closed_ || !self->suspended() || carrier != self->carrier_) return;
    self->end(close_reason::not_back, "interrupted for " + ms(std::chrono::steady_clock::now() - self->suspended_at_));
  });
}

void connection::peer_gone(const std::string& evidence) {
  if (!closed_ && suspended()) end(close_reason::peer_gone, evidence);
}

void connection::resume_from(connection& carrier, const frame_view& last) {
  // What the carrier's reader read after its last handshake frame is ours.
  const std::string first_in(carrier.reader_.rest_after(last));
  std::string welcome;
  std::uint64_t peer_delivered = carrier.hs_.peer_delivered();
  if (carrier.was_accepted()) {
    // We hold the session and may not have noticed the cut: stop the old
    // carrier first, so that what we tell the peer we delivered is final.
    if (!suspended()) drop_carrier();
    carrier.hs_.welcome_back(welcome, delivered());
  }
  if (carrier.writer_.pending()) {
    // The handshake's own frames are not all out: the stream cannot change hands.
    carrier.end(close_reason::handshake_failed, "cannot resume while the handshake's output is unwritten");
    return;
  }
  // The carrier is done: its stream is the session's now.
  std::unique_ptr<byte_stream> stream = std::move(carrier.stream_);
  auto waiter = std::exchange(carrier.waiter_, nullptr);  // a connect() made the carrier: it gets the session
  carrier.abandon();
  node_.handshake_over(carrier);
  attach(std::move(stream), welcome, peer_delivered, first_in);
  if (!waiter) return;
  if (closed_) {
    waiter->finish(nullptr, ask_error::node_down, "the session ended as it resumed");
  } else {
    waiter->finish(shared_from_this(), {}, {});
  }
}

void connection::attach(std::unique_ptr<byte_stream> stream, std::string_view first_out, std::uint64_t peer_delivered,
                        std::string_view first_in) {
  if (closed_) return;
  stream_ = std::move(stream);
  endpoint_ = stream_->describe();
  const auto resent = writer_.attach(*stream_, first_out, peer_delivered);
  if (!resent) {
    end(close_reason::bad_frame, "the peer says it delivered frame " + std::to_string(peer_delivered) +
                                     ", never sent");
    return;
  }
  const auto away = std::chrono::steady_clock::now() - suspended_at_;
  const bool was_suspended = suspended_.exchange(false, std::memory_order_acq_rel);
  ++carrier_;
  ack_sent_.store(delivered(), std::memory_order_relaxed);
  unacked_bytes_ = 0;
  node_.counters.add(counter::links_resumed);
  node_.counters.add(counter::frames_resent, *resent);
  log().info("troupe node {}: link with {} resumed on {}{}; {} frames sent again", node_.opts.name, peer_name_,
             endpoint_, was_suspended ? " after " + ms(away) : std::string(" (it had lost the old connection)"),
             *resent);
  node_.events.up(peer_name_, peer_incarnation_);
  reader_.touch();
  arm_heartbeat();
  const std::size_t n = reader_.attach(*stream_, first_in);
  if (n > 0 && !reader_.consume(n, *this)) return;
  read_more();
}

} // namespace troupe::transport
