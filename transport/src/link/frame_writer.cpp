#include "link/frame_writer.hpp"

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <utility>

#include "streams/shm_stream.hpp"
#include "troupe/actors/detail/remote_proxy.hpp"

namespace troupe::transport {

namespace {
/// True for the frames that carry a user's message (what the counts count).
constexpr bool carries_message(std::uint8_t kind) noexcept {
  return kind == static_cast<std::uint8_t>(frame_kind::message) ||
         kind == static_cast<std::uint8_t>(frame_kind::transfer);
}
} // namespace

frame_writer::frame_writer(byte_stream& stream, writer_host& host, link_counters& counters,
                           std::uint32_t max_frame) noexcept
    : stream_(&stream), host_(host), counters_(counters), unsent_limit_(unsent_limit(max_frame)) {}

bool frame_writer::park(detail::cell_ptr p) {
  if (!congested()) return false;
  waiting_.push_back(std::move(p));
  return true;
}

std::vector<detail::cell_ptr> frame_writer::drained_locked() {
  std::vector<detail::cell_ptr> wake;
  if (!waiting_.empty() && (closed_ || unwritten() < low_water)) wake.swap(waiting_);
  return wake;
}

void frame_writer::fail_locked(close_reason why, std::string detail) noexcept {
  // Retained, the frames stay for a resend (or for the count of what was
  // lost): the connection decides, as it ends or waits for a new carrier.
  // Otherwise nothing more is written.
  if (retain_) {
    detach_locked();
  } else {
    closed_ = true;
  }
  host_.end_later(why, std::move(detail));
}

void frame_writer::reset_out_locked() noexcept {
  out_.clear();
  stamped_ = 0;
  out_first_ = next_seq_;
  out_messages_ = 0;
  fds_in_out_ = 0;  // their frames are in the stream (or wbuf_) now
}

void frame_writer::sent_locked(std::string& bytes, std::uint64_t first_seq, std::uint64_t end_seq,
                               std::uint64_t messages) noexcept {
  if (!retain_) {
    // At most once: what the stream took counts as delivered.
    if (messages != 0) counters_.add(counter::messages_acknowledged, messages);
    bytes.clear();
    return;
  }
  try {
    if (!sent_.empty() && sent_.back().bytes.size() + bytes.size() <= sent_chunk_bytes) {
      // Small batches join the last chunk: a copy of bytes just written,
      // and out_ keeps its buffer (no allocation per batch).
      sent_.back().bytes.append(bytes);
      sent_.back().end_seq = end_seq;
      sent_.back().messages += messages;
      sent_bytes_ += bytes.size();
      bytes.clear();
    } else {
      sent_.push_back({std::move(bytes), first_seq, end_seq, messages});
      sent_bytes_ += sent_.back().bytes.size();
      bytes = std::string();
      if (!spare_.empty()) {
        bytes.swap(spare_.back());
        spare_.pop_back();
      }
    }
    // The peer may have acknowledged a buffer while its last piece was
    // being written: it need not wait for the next acknowledgement.
    release_acked_locked();
  } catch (...) {
    // No memory for the chunk: its frames cannot be resent, and whether
    // the peer gets them is not known: counted as lost.
    counters_.add(counter::unacknowledged_lost, messages);
    bytes.clear();
  }
}

void frame_writer::release_acked_locked() noexcept {
  while (!sent_.empty() && sent_.front().end_seq <= acked_ + 1) {
    sent_chunk& c = sent_.front();
    counters_.add(counter::messages_acknowledged, c.messages);
    sent_bytes_ -= c.bytes.size() - c.done;
    if (spare_.size() < 4) {
      c.bytes.clear();
      spare_.push_back(std::move(c.bytes));
    }
    sent_.pop_front();
  }
  if (sent_.empty() || sent_.front().first_seq > acked_) return;
  // Acknowledged in part: its first frames are passed over (kept for the
  // chunk's buffer, never written again) and their messages settled.
  sent_chunk& c = sent_.front();
  std::size_t passed = 0;
  std::uint64_t messages = 0;
  walk_frames(c.held(), [&](std::uint8_t kind, std::uint32_t, std::size_t at, std::size_t size) {
    if (!sequenced(kind)) return true;  // a WELCOME that went before
    if (c.first_seq > acked_) return false;
    messages += carries_message(kind) ? 1 : 0;
    ++c.first_seq;
    passed = at + size;
    return true;
  });
  c.done += passed;
  c.messages -= messages;
  sent_bytes_ -= passed;
  counters_.add(counter::messages_acknowledged, messages);
}

void frame_writer::flush_locked() noexcept {
  if (closed_) return;
  stamp_locked();
  if (out_.empty() || !attached_) return;
  if (writing_) {
    // What the reader queues (replies, credit, DOWNs) does not wait for
    // congestion to clear, as proxies do (they stop at high_water): a peer
    // that sends and never reads would have us hold all of it.
    if (const std::size_t unsent = out_.size() + wbuf_.size() - wbuf_done_; unsent > unsent_limit_) [[unlikely]] {
      try {
        fail_locked(close_reason::write_stall, std::to_string(unsent) + " bytes unsent");
      } catch (...) {
        fail_locked(close_reason::write_stall, {});
      }
    }
    return;
  }
  const ssize_t n = stream_->try_write(out_.data(), out_.size());
  if (n == static_cast<ssize_t>(out_.size())) {
    counters_.add(counter::bytes_out, out_.size());
    counters_.add(counter::writes);
    sent_locked(out_, out_first_, next_seq_, out_messages_);
    reset_out_locked();
    return;
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    // EPROTO: a shared-memory peer moved our ring's read index where it cannot be.
    if (errno == EPROTO) return fail_locked(close_reason::bad_frame, shm_category().message(int(shm_error::bad_index)));
    return fail_locked(close_reason::write_failed, std::strerror(errno));
  }
  // The stream took part (or nothing): the I/O thread writes the rest.
  const std::size_t sent = n > 0 ? static_cast<std::size_t>(n) : 0;
  counters_.add(counter::bytes_out, sent);
  writing_ = true;
  write_since_ = std::chrono::steady_clock::now();
  wbuf_.swap(out_);  // whole: the resend buffer keeps what was written of it too
  wbuf_done_ = sent;
  wbuf_first_ = out_first_;
  wbuf_end_ = next_seq_;
  wbuf_messages_ = out_messages_;
  fds_in_wbuf_ = fds_in_out_;
  reset_out_locked();
  try {
    host_.post_write();
  } catch (...) {
    fail_locked(close_reason::write_failed, "cannot post the write");
  }
}

void frame_writer::write_pending() {
  const char* data = nullptr;
  std::size_t piece = 0;
  {
    std::lock_guard guard(mx_);
    // A post made for an older carrier may arrive after a newer one started
    // writing: one write at a time.
    if (closed_ || !attached_ || !writing_ || write_in_flight_) return;  // the stream may be gone
    write_in_flight_ = true;
    // In pieces, so that a peer reading slowly but steadily shows progress
    // (write_since_) long before a large buffer is all written. Only this
    // thread touches wbuf_ while writing_ is set.
    data = wbuf_.data() + wbuf_done_;
    piece = std::min(wbuf_.size() - wbuf_done_, write_piece);
  }
  stream_->async_write(data, piece, [this, carrier = carrier_, keep = host_.keep_alive()](
                                        const boost::system::error_code& ec, std::size_t n) { on_written(carrier, ec, n); });
}

void frame_writer::on_written(std::uint64_t carrier, const boost::system::error_code& ec, std::size_t n) {
  std::vector<detail::cell_ptr> wake;
  {
    std::lock_guard guard(mx_);
    if (closed_ || carrier != carrier_) return;  // an older carrier's write
    write_in_flight_ = false;
    if (ec) {
      // A shared-memory peer lying about its ring is bad input, counted like a bad frame.
      fail_locked(ec.category() == shm_category() ? close_reason::bad_frame : close_reason::write_failed, ec.message());
      return;
    }
    counters_.add(counter::bytes_out, n);
    if (wbuf_done_ + n < wbuf_.size()) {
      // A piece: the next one goes, and proxies parked on a buffer that is
      // now mostly written go on (they need not wait for its last piece).
      wbuf_done_ += n;
      write_since_ = std::chrono::steady_clock::now();
      try {
        host_.post_write();
        wake = drained_locked();
      } catch (...) {
        fail_locked(close_reason::write_failed, "cannot post the write");
      }
    } else {
      finish_buffer_locked();
      wake = drained_locked();
    }
  }
  for (auto& p : wake) static_cast<detail::remote_proxy&>(*p).wake();
}

void frame_writer::finish_buffer_locked() noexcept {
  writing_ = false;
  sent_locked(wbuf_, wbuf_first_, wbuf_end_, std::exchange(wbuf_messages_, 0));
  wbuf_done_ = 0;
  fds_in_wbuf_ = 0;  // their frames are in the stream now
  counters_.add(counter::writes);
  flush_locked();
}

bool frame_writer::check_stalled(std::chrono::milliseconds timeout) {
  std::lock_guard guard(mx_);
  const auto stuck = std::chrono::steady_clock::now() - write_since_;
  if (!writing_ || closed_ || !attached_ || stuck <= timeout) return false;
  fail_locked(close_reason::write_stall,
              "no write completed for " +
                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(stuck).count()) + " ms");
  return true;
}

std::vector<detail::cell_ptr> frame_writer::close() noexcept {
  std::lock_guard guard(mx_);
  // What was queued (a REFUSE, a GOODBYE) went out with the last flush,
  // as far as the stream took it; nothing is written from here on.
  closed_ = true;
  out_.clear();
  sent_.clear();
  sent_bytes_ = 0;
  std::vector<detail::cell_ptr> parked;
  parked.swap(waiting_);
  return parked;
}

bool frame_writer::pending() {
  std::lock_guard guard(mx_);
  return !closed_ && attached_ && (writing_ || !out_.empty());
}

// -- the resend buffer ------------------------------------------------------------------

bool frame_writer::acked(std::uint64_t delivered) {
  std::vector<detail::cell_ptr> wake;
  {
    std::lock_guard guard(mx_);
    if (delivered >= next_seq_) return false;  // frames never sent
    if (delivered <= acked_) return true;
    acked_ = delivered;
    release_acked_locked();
    wake = drained_locked();
  }
  for (auto& p : wake) static_cast<detail::remote_proxy&>(*p).wake();
  return true;
}

void frame_writer::detach() {
  std::lock_guard guard(mx_);
  detach_locked();
}

void frame_writer::detach_locked() noexcept {
  attached_ = false;
  ++carrier_;  // a write of the old one that completes now is not ours
  write_in_flight_ = false;
}

template <class F>
void frame_writer::for_each_held_locked(F&& f) {
  stamp_locked();
  const auto each = [&](std::string_view bytes, std::uint64_t seq, std::size_t written) {
    walk_frames(bytes, [&](std::uint8_t kind, std::uint32_t, std::size_t at, std::size_t size) {
      if (sequenced(kind)) f(bytes.substr(at, size), kind, seq++, at < written);  // else a WELCOME that went before
      return true;
    });
  };
  for (const sent_chunk& c : sent_) each(c.held(), c.first_seq, c.held().size());
  if (writing_) each(wbuf_, wbuf_first_, wbuf_done_);
  each(out_, out_first_, 0);
}

std::optional<std::uint64_t> frame_writer::attach(byte_stream& stream, std::string_view first,
                                                  std::uint64_t peer_delivered) {
  std::vector<detail::cell_ptr> wake;
  std::uint64_t resent = 0;
  {
    std::lock_guard guard(mx_);
    if (closed_) return 0;
    if (peer_delivered >= next_seq_) return std::nullopt;
    acked_ = std::max(acked_, peer_delivered);
    // Everything numbered after what the peer delivered, in order: the
    // resend buffer, the buffer that was being written, then out_ (never
    // written: not a resend).
    std::string next(first);
    std::uint64_t delivered_messages = 0;
    std::uint64_t pending_messages = 0;
    const std::uint64_t unwritten_from = out_first_;
    for_each_held_locked([&](std::string_view frame, std::uint8_t kind, std::uint64_t seq, bool) {
      const std::uint64_t m = carries_message(kind) ? 1 : 0;
      if (seq <= acked_) {
        delivered_messages += m;
        return;
      }
      next.append(frame);
      pending_messages += m;
      if (seq < unwritten_from) ++resent;
    });
    counters_.add(counter::messages_acknowledged, delivered_messages);
    sent_.clear();
    sent_bytes_ = 0;
    wbuf_.clear();
    wbuf_done_ = 0;
    wbuf_messages_ = 0;
    writing_ = false;
    write_in_flight_ = false;
    fds_in_wbuf_ = 0;
    out_.swap(next);
    out_messages_ = pending_messages;
    stamped_ = out_.size();
    out_first_ = acked_ + 1;
    stream_ = &stream;
    attached_ = true;
    ++carrier_;
    flush_locked();
    wake = drained_locked();
  }
  for (auto& p : wake) static_cast<detail::remote_proxy&>(*p).wake();
  return resent;
}

std::uint64_t frame_writer::in_flight_messages() {
  std::lock_guard guard(mx_);
  if (closed_) return 0;
  std::uint64_t n = out_messages_ + (writing_ ? wbuf_messages_ : 0);
  for (const sent_chunk& c : sent_) n += c.messages;
  return n;
}

std::uint64_t frame_writer::settle_at_end(bool written_delivered) {
  std::lock_guard guard(mx_);
  if (closed_) return 0;
  const bool written_counts = written_delivered || !retain_;
  std::uint64_t delivered = 0;
  std::uint64_t lost = 0;
  // Frame by frame: a chunk of the resend buffer may be acknowledged in
  // part, the buffer being written written in part.
  for_each_held_locked([&](std::string_view, std::uint8_t kind, std::uint64_t seq, bool written) {
    if (carries_message(kind)) (seq <= acked_ || (written_counts && written) ? delivered : lost) += 1;
  });
  sent_.clear();
  sent_bytes_ = 0;
  reset_out_locked();
  wbuf_messages_ = 0;
  closed_ = true;  // a turn that comes now finds it closed: its messages are dead letters
  counters_.add(counter::messages_acknowledged, delivered);
  return lost;
}

} // namespace troupe::transport
