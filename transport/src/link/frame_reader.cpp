#include "link/frame_reader.hpp"

#include <algorithm>
#include <cstring>

namespace troupe::transport {

frame_reader::frame_reader(byte_stream& stream, link_counters& counters, std::uint32_t max_frame)
    : stream_(&stream), counters_(counters), max_frame_(max_frame) {
  buf_.resize(handshake_chunk);
}

std::string frame_reader::framing_error_text(framing_error err, std::size_t used, std::uint32_t limit,
                                             bool established) const {
  if (err == framing_error::short_frame) return "sequenced frame shorter than its sequence number";
  if (err != framing_error::oversize) return "frame of length 0";
  const std::string_view rest(buf_.data() + used, len_ - used);
  return "frame length " + std::to_string(peek_frame_length(rest)) + " exceeds the maximum of " +
         std::to_string(limit) + " bytes" + (established ? "" : " before the handshake");
}

std::size_t frame_reader::attach(byte_stream& stream, std::string_view first) {
  stream_ = &stream;
  chunk_ = read_chunk;  // a session's stream: the handshake is over
  std::string next;
  next.resize(first.size() + read_chunk);
  std::memcpy(next.data(), first.data(), first.size());
  buf_.swap(next);
  len_ = 0;
  return first.size();
}

void frame_reader::compact(std::size_t used) {
  if (used > 0) {
    std::memmove(buf_.data(), buf_.data() + used, len_ - used);
    len_ -= used;
  }
  if (len_ == buf_.size()) {
    // One frame larger than the buffer (its length was checked): grow
    // toward it as its bytes arrive, doubling, never to what its length
    // announces at once (a peer announcing 16 MiB and sending a trickle
    // would make us hold 16 MiB).
    const std::size_t whole = std::size_t(peek_frame_length(buf_)) + 4;
    buf_.resize(std::max(std::min(whole, 2 * buf_.size()), chunk_));
  } else if (buf_.size() < chunk_) {
    buf_.resize(chunk_);  // the handshake is over
  } else if (buf_.size() > chunk_ && len_ < chunk_) {
    buf_.resize(chunk_);
    buf_.shrink_to_fit();
  }
}

} // namespace troupe::transport
