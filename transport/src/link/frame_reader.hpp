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
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "link/counters.hpp"
#include "protocol/frame.hpp"
#include "streams/byte_stream.hpp"

namespace troupe::transport {

/// What a frame_reader hands frames to: its connection. Called by whoever reads.
class frame_sink {
 public:
  /// Handles one frame; false stops the split (the connection is ending,
  /// or the frame ended the handshake and the limit changes).
  virtual bool on_frame(const frame_view& f) = 0;
  /// True once the handshake ended.
  [[nodiscard]] virtual bool established() const noexcept = 0;
  /// True once the connection is over or ending: no more frames.
  [[nodiscard]] virtual bool stopped() const noexcept = 0;
  /// The bytes could not be split into frames: the connection ends.
  virtual void framing_failed(std::string detail) = 0;
  /// The stream failed (or ended) while reading: the connection ends.
  virtual void read_failed(const boost::system::error_code& ec) = 0;
  /// A read's frames are all handled (however it ended).
  virtual void read_done() noexcept = 0;

 protected:
  ~frame_sink() = default;
};

class frame_reader {
 public:
  /// Bytes read at once; the buffer grows only to fit one larger frame.
  static constexpr std::size_t read_chunk = std::size_t{256} << 10;
  /// Before the handshake ends only HELLO, AUTH and REFUSE arrive (well
  /// under 1 KiB): a larger length from an unauthenticated peer is refused.
  static constexpr std::uint32_t handshake_max_frame = 4096;

  /// Reads `stream` for `sink`; frames up to `max_frame` once established.
  frame_reader(byte_stream& stream, frame_sink& sink, node_counters& counters, std::uint32_t max_frame);

  /// Where the next read goes, and how much fits. Whoever reads.
  [[nodiscard]] char* space() noexcept { return buf_.data() + len_; }
  [[nodiscard]] std::size_t room() const noexcept { return buf_.size() - len_; }
  /// Splits and hands over the frames in the buffer after `n` new bytes.
  /// False when the connection is over (or ending). Whoever reads.
  bool consume(std::size_t n);

  enum class drained : std::uint8_t { nothing, some, busy };
  /// A polled stream: reads until it is empty, under the read token (busy:
  /// another thread holds it, and looks again when it lets go). Any thread.
  drained drain() noexcept;

  /// When bytes last arrived (for the heartbeat). @threadsafe
  [[nodiscard]] std::chrono::steady_clock::time_point last_read() const noexcept {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_read_.load()));
  }
  /// Counts now as a read (the connection starts). @threadsafe
  void touch() noexcept {
    last_read_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }
  /// Bytes the buffer holds now (for tests: it shrinks back after a large frame).
  [[nodiscard]] std::size_t capacity() const noexcept { return buf_.size(); }

 private:
  /// Moves what is left to the front, and sizes the buffer for what comes next.
  void compact(std::size_t used);
  byte_stream& stream_;
  frame_sink& sink_;
  node_counters& counters_;
  std::uint32_t max_frame_;
  // The reader's (the I/O thread's, or the read token holder's).
  std::string buf_;
  std::size_t len_ = 0;
  std::atomic<bool> reading_{false};  // the read token (polled streams)
  std::atomic<std::chrono::steady_clock::rep> last_read_{0};
};

} // namespace troupe::transport
