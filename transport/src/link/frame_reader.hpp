#pragma once
// Private to the transport: the read side of a connection. It owns the read
// buffer, splits what arrives into frames and hands each to its sink; the
// frame size limit switches from the handshake's to the connection's as the
// handshake ends within one read.
//
// Who reads: on a socket or pipe, the I/O thread (the connection's async
// read loop). On a polled stream (shared memory), whoever holds the read
// token: the I/O thread when the doorbell rings, or an idle pool worker
// polling. Every member says which.

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "link/counters.hpp"
#include "protocol/frame.hpp"
#include "streams/byte_stream.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe::transport {

/// What a frame_reader hands frames to (its connection). A concept, not a
/// base class: the reader calls its sink directly, with no virtual call per
/// frame. All are called by whoever reads.
template <class S>
concept frame_sink = requires(S& s, const S& cs, const frame_view& f, std::string detail,
                              const boost::system::error_code& ec) {
  /// Handles one frame; false stops the split: the connection is ending,
  /// or the frame ended the handshake (the limit changes).
  { s.on_frame(f) } -> std::same_as<bool>;
  /// True once the handshake ended.
  { cs.established() } -> std::same_as<bool>;
  /// True once the connection is over or ending: no more frames.
  { cs.stopped() } -> std::same_as<bool>;
  /// The bytes could not be split into frames: the connection ends.
  s.framing_failed(std::move(detail));
  /// The stream failed (or ended) while reading: the connection ends.
  s.read_failed(ec);
  /// A read's frames are all handled (however it ended).
  s.read_done();
};

class frame_reader {
 public:
  /// Bytes read at once once the handshake is over; the buffer grows only
  /// to fit one larger frame.
  static constexpr std::size_t read_chunk = std::size_t{256} << 10;
  /// Bytes read at once before: a HELLO or an AUTH fits, and a stranger
  /// costs no more (the buffer grows to fit one larger handshake frame).
  static constexpr std::size_t handshake_chunk = 512;
  /// Before the handshake ends only HELLO, AUTH and REFUSE arrive (well
  /// under 1 KiB): a larger length from an unauthenticated peer is refused.
  static constexpr std::uint32_t handshake_max_frame = 4096;

  /// Reads `stream`; frames up to `max_frame` once established.
  frame_reader(byte_stream& stream, link_counters& counters, std::uint32_t max_frame);
  /// The handshake is over: reads take read_chunk from the next one on (the
  /// buffer grows after the frames in it now are handled: they point into it).
  void open_up() noexcept { chunk_ = read_chunk; }

  /// Where the next read goes, and how much fits. Whoever reads.
  [[nodiscard]] char* space() noexcept { return buf_.data() + len_; }
  [[nodiscard]] std::size_t room() const noexcept { return buf_.size() - len_; }
  /// Splits and hands over to `sink` the frames in the buffer after `n` new
  /// bytes. False when the connection is over (or ending). Whoever reads.
  template <frame_sink Sink>
  bool consume(std::size_t n, Sink& sink);

  enum class drained : std::uint8_t { nothing, some, busy };
  /// A polled stream: reads until it is empty, under the read token (busy:
  /// another thread holds it, and looks again when it lets go). Any thread.
  template <frame_sink Sink>
  drained drain(Sink& sink) noexcept;

  /// When bytes last arrived (for the heartbeat). @threadsafe
  [[nodiscard]] std::chrono::steady_clock::time_point last_read() const noexcept {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_read_.load()));
  }
  /// Counts now as a read (the connection starts). @threadsafe
  void touch() noexcept {
    last_read_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }
  /// The bytes read after `f` (a frame of the last split, still in the
  /// buffer): what a handshake that hands its stream over leaves unread.
  [[nodiscard]] std::string_view rest_after(const frame_view& f) const noexcept {
    const char* from = f.body.data() + f.body.size();
    return {from, static_cast<std::size_t>(buf_.data() + len_ - from)};
  }
  /// Reads `stream` from now on, starting with `first` (bytes another
  /// reader read from it); what the buffer held goes. Returns first's size,
  /// for consume(). The I/O thread, with no read in flight.
  std::size_t attach(byte_stream& stream, std::string_view first);
  /// Bytes the buffer holds now (for tests: it shrinks back after a large frame).
  [[nodiscard]] std::size_t capacity() const noexcept { return buf_.size(); }

 private:
  /// Moves what is left to the front, and sizes the buffer for what comes next.
  void compact(std::size_t used);
  /// Why the bytes after `used` cannot be split (`err`, under `limit`).
  [[nodiscard]] std::string framing_error_text(framing_error err, std::size_t used, std::uint32_t limit,
                                               bool established) const;
  byte_stream* stream_;
  link_counters& counters_;
  std::uint32_t max_frame_;
  // The reader's (the I/O thread's, or the read token holder's).
  std::string buf_;
  std::size_t len_ = 0;
  std::size_t chunk_ = handshake_chunk;  // what a read takes: read_chunk once open_up()
  std::atomic<bool> reading_{false};  // the read token (polled streams)
  std::atomic<std::chrono::steady_clock::rep> last_read_{0};
};

template <frame_sink Sink>
bool frame_reader::consume(std::size_t n, Sink& sink) {
  // Whatever ends this read, what it queued reaches the mailboxes.
  struct done_at_end {
    Sink& s;
    ~done_at_end() { s.read_done(); }
  } at_end{sink};
  len_ += n;
  touch();
  counters_.add(counter::bytes_in, n);
  framing_error err = framing_error::none;
  std::size_t used = 0;
  std::uint32_t limit = 0;
  for (;;) {
    // The limit grows when the handshake ends (the sink stops the split
    // there): split again from there.
    const bool was_established = sink.established();
    limit = was_established ? max_frame_ : handshake_max_frame;
    std::uint64_t frames = 0;
    used += split_frames(std::string_view(buf_.data() + used, len_ - used), limit, err, [&](const frame_view& f) {
      ++frames;
      return sink.on_frame(f);
    });
    counters_.add(counter::frames_in, frames);
    if (sink.stopped()) return false;
    if (err != framing_error::none || sink.established() == was_established) break;
  }
  if (err != framing_error::none) {
    sink.framing_failed(framing_error_text(err, used, limit, sink.established()));
    return false;
  }
  compact(used);
  return true;
}

template <frame_sink Sink>
frame_reader::drained frame_reader::drain(Sink& sink) noexcept {
  if (reading_.exchange(true, std::memory_order_acquire)) return drained::busy;
  detail::never_block_scope never_block;  // as on the I/O thread: a full mailbox must not stall the connection
  bool any = false;
  for (;;) {
    while (!sink.stopped()) {
      boost::system::error_code ec;
      const std::size_t n = stream_->read_now(buf_.data() + len_, buf_.size() - len_, ec);
      if (ec) {
        sink.read_failed(ec);
        break;
      }
      if (n == 0) break;
      any = true;
      if (!consume(n, sink)) break;
    }
    reading_.store(false, std::memory_order_release);
    // Bytes that came while we held the token, seen by nobody else: ours.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sink.stopped() || !stream_->readable() || reading_.exchange(true, std::memory_order_acquire)) break;
  }
  return any ? drained::some : drained::nothing;
}

} // namespace troupe::transport
