#include "link/frame_writer.hpp"

#include <cerrno>
#include <cstring>

#include "streams/shm_stream.hpp"
#include "troupe/actors/detail/remote_proxy.hpp"

namespace troupe::transport {

frame_writer::frame_writer(byte_stream& stream, writer_host& host, node_counters& counters,
                           std::uint32_t max_frame) noexcept
    : stream_(stream), host_(host), counters_(counters), unsent_limit_(unsent_limit(max_frame)) {}

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
  closed_ = true;  // nothing more is written; the host ends the connection
  out_.clear();
  host_.end_later(why, std::move(detail));
}

void frame_writer::flush_locked() noexcept {
  if (closed_ || out_.empty()) return;
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
  const ssize_t n = stream_.try_write(out_.data(), out_.size());
  if (n == static_cast<ssize_t>(out_.size())) {
    counters_.add(counter::bytes_out, out_.size());
    counters_.add(counter::writes);
    out_.clear();
    fds_in_out_ = 0;  // their frames are in the stream now
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
  wbuf_.assign(out_, sent);
  wbuf_done_ = 0;
  fds_in_wbuf_ = std::exchange(fds_in_out_, 0);
  out_.clear();
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
    if (closed_) return;  // the stream may be gone
    // In pieces, so that a peer reading slowly but steadily shows progress
    // (write_since_) long before a large buffer is all written. Only this
    // thread touches wbuf_ while writing_ is set.
    data = wbuf_.data() + wbuf_done_;
    piece = std::min(wbuf_.size() - wbuf_done_, write_piece);
  }
  stream_.async_write(data, piece, [this, keep = host_.keep_alive()](const boost::system::error_code& ec, std::size_t n) {
    on_written(ec, n);
  });
}

void frame_writer::on_written(const boost::system::error_code& ec, std::size_t n) {
  std::vector<detail::cell_ptr> wake;
  {
    std::lock_guard guard(mx_);
    if (closed_) return;
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
  wbuf_.clear();
  wbuf_done_ = 0;
  fds_in_wbuf_ = 0;  // their frames are in the stream now
  counters_.add(counter::writes);
  flush_locked();
}

bool frame_writer::check_stalled(std::chrono::milliseconds timeout) {
  std::lock_guard guard(mx_);
  const auto stuck = std::chrono::steady_clock::now() - write_since_;
  if (!writing_ || closed_ || stuck <= timeout) return false;
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
  std::vector<detail::cell_ptr> parked;
  parked.swap(waiting_);
  return parked;
}

bool frame_writer::pending() {
  std::lock_guard guard(mx_);
  return !closed_ && (writing_ || !out_.empty());
}

} // namespace troupe::transport
