#include "link/frame_reader.hpp"

#include <cstring>

#include "troupe/actors/detail/ops.hpp"

namespace troupe::transport {

frame_reader::frame_reader(byte_stream& stream, frame_sink& sink, node_counters& counters, std::uint32_t max_frame)
    : stream_(stream), sink_(sink), counters_(counters), max_frame_(max_frame) {
  buf_.resize(read_chunk);
}

bool frame_reader::consume(std::size_t n) {
  // Whatever ends this read, what it queued reaches the mailboxes.
  struct done_at_end {
    frame_sink& s;
    ~done_at_end() { s.read_done(); }
  } at_end{sink_};
  len_ += n;
  touch();
  counters_.add(counter::bytes_in, n);
  framing_error err = framing_error::none;
  std::size_t used = 0;
  std::uint32_t limit = 0;
  for (;;) {
    // The limit grows when the handshake ends: split again from there.
    const bool was_established = sink_.established();
    limit = was_established ? max_frame_ : handshake_max_frame;
    std::uint64_t frames = 0;
    used += split_frames(std::string_view(buf_.data() + used, len_ - used), limit, err, [&](const frame_view& f) {
      ++frames;
      return sink_.on_frame(f) && sink_.established() == was_established;
    });
    counters_.add(counter::frames_in, frames);
    if (sink_.stopped()) return false;
    if (err != framing_error::none || sink_.established() == was_established) break;
  }
  if (err != framing_error::none) {
    const std::string_view rest(buf_.data() + used, len_ - used);
    sink_.framing_failed(err == framing_error::oversize
                             ? "frame length " + std::to_string(peek_frame_length(rest)) + " exceeds the maximum of " +
                                   std::to_string(limit) + " bytes" +
                                   (sink_.established() ? "" : " before the handshake")
                             : std::string("frame of length 0"));
    return false;
  }
  compact(used);
  return true;
}

void frame_reader::compact(std::size_t used) {
  if (used > 0) {
    std::memmove(buf_.data(), buf_.data() + used, len_ - used);
    len_ -= used;
  }
  if (len_ == buf_.size()) {
    // One frame larger than the buffer (its length was checked): grow to fit it.
    buf_.resize(std::size_t(peek_frame_length(buf_)) + 4);
  } else if (buf_.size() > read_chunk && len_ < read_chunk) {
    buf_.resize(read_chunk);
    buf_.shrink_to_fit();
  }
}

frame_reader::drained frame_reader::drain() noexcept {
  if (reading_.exchange(true, std::memory_order_acquire)) return drained::busy;
  detail::never_block_scope never_block;  // as on the I/O thread: a full mailbox must not stall the connection
  bool any = false;
  for (;;) {
    while (!sink_.stopped()) {
      boost::system::error_code ec;
      const std::size_t n = stream_.read_now(buf_.data() + len_, buf_.size() - len_, ec);
      if (ec) {
        sink_.read_failed(ec);
        break;
      }
      if (n == 0) break;
      any = true;
      if (!consume(n)) break;
    }
    reading_.store(false, std::memory_order_release);
    // Bytes that came while we held the token, seen by nobody else: ours.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sink_.stopped() || !stream_.readable() || reading_.exchange(true, std::memory_order_acquire)) break;
  }
  return any ? drained::some : drained::nothing;
}

} // namespace troupe::transport
