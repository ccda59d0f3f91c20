#pragma once
// Private to the transport: the write side of a connection. Frames
// accumulate in a buffer while the previous one is being written; the first
// writer after a quiet spell writes directly (one syscall for a whole turn's
// batch), and the I/O thread writes what the stream did not take at once.
//
// Everything here is under the write lock (`lock()`), which a proxy's turn
// holds from begin_turn to end_turn. Proxies stop at the high-water mark and
// park until the buffers drain below the low one; output the reader makes
// (replies, credit, DOWNs) does not wait, so it is bounded on its own: past
// `unsent_limit`, or with no write completing for the write timeout, the
// peer counts as not reading and the connection ends (close_reason::write_stall).
//
// The writer also numbers the link: it stamps each sequenced frame as it
// goes out. On a link that resends (reliable delivery), what the stream
// took is kept in the resend buffer until the peer acknowledges it
// (acked()); the carrier may then be swapped (detach(), then attach() on a
// new stream), which writes again every frame the peer did not get, in
// order, before anything new. The resend buffer is bounded (resend_limit):
// proxies park above it as above the high-water mark.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "link/close_reason.hpp"
#include "link/counters.hpp"
#include "protocol/frame.hpp"
#include "streams/byte_stream.hpp"
#include "troupe/actors/detail/actor_cell.hpp"

namespace troupe::transport {

/// What a frame_writer needs of its connection.
class writer_host {
 public:
  /// Runs `write_pending()` on the I/O thread, keeping the connection
  /// alive. Called under the write lock. @throws when it cannot post
  virtual void post_write() = 0;
  /// Keeps the connection alive while a write is in flight.
  [[nodiscard]] virtual std::shared_ptr<void> keep_alive() = 0;
  /// Writing failed or stalled: the connection ends, on the I/O thread.
  /// Called under the write lock: it must only post.
  virtual void end_later(close_reason why, std::string detail) noexcept = 0;

 protected:
  ~writer_host() = default;
};

class frame_writer {
 public:
  /// A proxy stops handing messages to a connection holding more unwritten
  /// bytes than this, and is woken when they are below the low mark.
  static constexpr std::size_t high_water = std::size_t{4} << 20;
  static constexpr std::size_t low_water = std::size_t{1} << 20;
  /// Largest piece handed to the stream at once by the I/O thread
  /// (progress for the write timeout is counted per piece).
  static constexpr std::size_t write_piece = std::size_t{256} << 10;
  /// Descriptors passed ahead of frames not yet in the stream, beyond which
  /// a buffer is copied instead: the shm receiver stops reading its control
  /// socket at 256 queued descriptors and must find their frames in the ring then.
  static constexpr std::uint32_t max_unwritten_fds = 128;
  /// Bytes sent and not yet acknowledged beyond which proxies park (reliable
  /// delivery): the peer acknowledges every ack_every_bytes, so this holds
  /// many round trips of a fast link.
  static constexpr std::size_t resend_limit = std::size_t{16} << 20;

  /// Output the reader made held for a peer before it counts as not
  /// reading, when frames are up to `max_frame` bytes.
  [[nodiscard]] static constexpr std::size_t unsent_limit(std::uint32_t max_frame) noexcept {
    return high_water + 2 * std::size_t{max_frame};
  }

  /// Writes to `stream` (which outlives the writer's use of it: the host
  /// closes the writer before it closes the stream).
  frame_writer(byte_stream& stream, writer_host& host, link_counters& counters, std::uint32_t max_frame) noexcept;

  // -- the resend buffer (reliable delivery) --
  /// From now on what the stream takes is kept until acknowledged. The I/O
  /// thread, once the link is established (before its first sequenced frame).
  void retain() {
    std::lock_guard guard(mx_);
    retain_ = true;
  }
  /// The peer has delivered every frame up to number `delivered`: they
  /// leave the resend buffer; parked proxies go on once it has room. False
  /// when it acknowledges frames never sent (a bad frame). The reader.
  [[nodiscard]] bool acked(std::uint64_t delivered);
  /// The carrier is gone: nothing is written until attach(); frames wait
  /// (proxies park at the marks). The I/O thread.
  void detach();
  /// Writes to `stream` from now on: `first` (a handshake's last frame),
  /// then every frame after `peer_delivered` that the peer did not get, then
  /// what comes. Returns the frames written again, or nullopt when the peer
  /// claims frames never sent. The I/O thread, after detach().
  [[nodiscard]] std::optional<std::uint64_t> attach(byte_stream& stream, std::string_view first,
                                                    std::uint64_t peer_delivered);
  /// Messages (MESSAGE and TRANSFER frames) not yet settled: waiting to be
  /// written, or in the resend buffer (a chunk leaves it once the peer
  /// acknowledged all of it). Every message queued here is in flight until
  /// it is counted as acknowledged (counter::messages_acknowledged) or lost
  /// (settle_at_end). For node::stats(). Any thread.
  [[nodiscard]] std::uint64_t in_flight_messages();
  /// The link ended for good: every message in flight is settled. Those the
  /// peer acknowledged, and those the stream took when `written_delivered`
  /// (a graceful end) or when nothing is retained (at most once), count as
  /// acknowledged; the rest are returned, lost (the caller counts them as
  /// dead letters). Any thread, once.
  [[nodiscard]] std::uint64_t settle_at_end(bool written_delivered);

  // -- whole frames, any thread --
  /// Appends the frames `make(std::string&)` appends, counts one frame, and
  /// writes. Nothing when the writer is closed.
  template <class Make>
  void append(Make&& make) {
    std::lock_guard guard(mx_);
    if (closed_) return;
    make(out_);
    counters_.add(counter::frames_out);
    flush_locked();
  }

  // -- a proxy's turn: lock(), then the calls marked (locked), then unlock_and_flush() --
  void lock() { mx_.lock(); }
  /// Writes what the turn appended, then lets go of the lock.
  void unlock_and_flush() noexcept {
    flush_locked();
    mx_.unlock();
  }
  /// (locked) Where frames go.
  [[nodiscard]] std::string& out() noexcept { return out_; }
  /// (locked) `n` of the frames appended to out() are messages (MESSAGE or
  /// TRANSFER): they are in flight from here on. A proxy's turn, before it
  /// unlocks.
  void add_messages(std::uint64_t n) noexcept { out_messages_ += n; }
  /// (locked) True once nothing more is written.
  [[nodiscard]] bool closed() const noexcept { return closed_; }
  /// (locked) True above the high-water mark.
  [[nodiscard]] bool congested() const noexcept {
    return !closed_ && (unwritten() > high_water || sent_bytes_ > resend_limit);
  }
  /// (locked) When congested: keeps `p`, woken (remote_proxy::wake) once
  /// the buffers drained below the low-water mark; false when not congested.
  bool park(detail::cell_ptr p);
  /// (locked) True while a descriptor may be passed ahead of its frame.
  [[nodiscard]] bool may_pass_fd() const noexcept { return fds_in_out_ + fds_in_wbuf_ < max_unwritten_fds; }
  /// (locked) A descriptor was passed for a frame in out().
  void passed_fd() noexcept { ++fds_in_out_; }
  /// (locked) Frames up to `max_frame` bytes may be sent (the larger of ours
  /// and the peer's): the unsent bound follows.
  void set_max_frame(std::uint32_t max_frame) noexcept { unsent_limit_ = unsent_limit(max_frame); }
  /// Runs `f()` under the lock. Any thread.
  template <class F>
  auto locked(F&& f) {
    std::lock_guard guard(mx_);
    return f();
  }

  // -- the I/O thread --
  /// Writes the pending buffer, a piece at a time.
  void write_pending();
  /// Ends the connection (write_stall) when a write has not moved for
  /// `timeout`; true when it did.
  bool check_stalled(std::chrono::milliseconds timeout);
  /// Nothing more is written; the proxies parked here, to be woken.
  std::vector<detail::cell_ptr> close() noexcept;
  /// True while frames wait to be written. Any thread.
  [[nodiscard]] bool pending();

 private:
  [[nodiscard]] std::size_t unwritten() const noexcept {
    return out_.size() + (writing_ ? wbuf_.size() - wbuf_done_ : 0);
  }
  /// Writes out_: a direct send, the rest by the I/O thread. (locked)
  void flush_locked() noexcept;
  /// (locked) Stops all writing; the host ends the connection.
  void fail_locked(close_reason why, std::string detail) noexcept;
  /// (locked) The carrier is gone (see detach()).
  void detach_locked() noexcept;
  /// (locked) Numbers what out_ holds, then calls `f(frame, kind, number,
  /// written)` for every sequenced frame still held, in order: the resend
  /// buffer, the buffer being written (written up to wbuf_done_), out_.
  template <class F>
  void for_each_held_locked(F&& f);
  /// (locked) The parked proxies to wake, when the buffers have drained.
  std::vector<detail::cell_ptr> drained_locked();
  void on_written(std::uint64_t carrier, const boost::system::error_code& ec, std::size_t n);
  /// (locked) Numbers the frames appended since the last call.
  void stamp_locked() noexcept {
    if (stamped_ < out_.size()) {
      next_seq_ = stamp_frames(out_, stamped_, next_seq_);
      stamped_ = out_.size();
    }
  }
  /// (locked) out_ is in the stream or in wbuf_: it starts afresh.
  void reset_out_locked() noexcept;
  /// (locked) A buffer the stream took whole, holding `messages`: kept
  /// (retaining) or recycled, its messages then settled as acknowledged.
  void sent_locked(std::string& bytes, std::uint64_t first_seq, std::uint64_t end_seq,
                   std::uint64_t messages) noexcept;
  /// (locked) Settles what the peer acknowledged: chunks acknowledged whole
  /// leave the resend buffer, and the acknowledged frames at the front of
  /// the next are passed over; their messages count as acknowledged at once
  /// (a chunk that later frames keep growing must not hold them in flight).
  void release_acked_locked() noexcept;
  /// (locked) The buffer being written is all in the stream: the next goes.
  void finish_buffer_locked() noexcept;

  /// Batches written are gathered into chunks of the resend buffer up to this size.
  static constexpr std::size_t sent_chunk_bytes = std::size_t{256} << 10;
  /// A chunk of the resend buffer: frames first_seq .. end_seq - 1, from
  /// byte `done` of `bytes` (what is before it was acknowledged), of which
  /// `messages` are messages.
  struct sent_chunk {
    std::string bytes;
    std::uint64_t first_seq;
    std::uint64_t end_seq;
    std::uint64_t messages;
    std::size_t done = 0;
    /// The frames not yet acknowledged.
    [[nodiscard]] std::string_view held() const noexcept { return std::string_view(bytes).substr(done); }
  };

  byte_stream* stream_;
  writer_host& host_;
  link_counters& counters_;
  std::mutex mx_;
  bool closed_ = false;
  std::string out_;   // frames not yet handed to the stream
  std::string wbuf_;  // the buffer the I/O thread is writing
  std::size_t wbuf_done_ = 0;  // bytes of wbuf_ written so far
  bool writing_ = false;
  bool write_in_flight_ = false;  // an async write of wbuf_ is in the stream's hands
  std::chrono::steady_clock::time_point write_since_{};  // when the write in progress last moved
  std::size_t unsent_limit_;
  // Descriptors passed (TRANSFERs) whose frames are still in out_ / in
  // wbuf_, not yet in the stream: see max_unwritten_fds.
  std::uint32_t fds_in_out_ = 0;
  std::uint32_t fds_in_wbuf_ = 0;
  std::vector<detail::cell_ptr> waiting_;  // proxies parked until the buffers drain
  // Numbering and the resend buffer.
  std::uint64_t next_seq_ = 1;       // the next sequenced frame's number
  std::size_t stamped_ = 0;          // out_ is numbered up to here
  std::uint64_t out_first_ = 1;      // the number of out_'s first sequenced frame
  std::uint64_t wbuf_first_ = 1;     // ... and of wbuf_'s
  std::uint64_t wbuf_end_ = 1;       // one past wbuf_'s last
  std::uint64_t out_messages_ = 0;   // messages in out_
  std::uint64_t wbuf_messages_ = 0;  // ... and in wbuf_
  bool retain_ = false;
  bool attached_ = true;             // a carrier is there
  std::uint64_t carrier_ = 0;        // which one (a write completing on an older one is ignored)
  std::uint64_t acked_ = 0;          // the peer delivered every frame up to here
  std::deque<sent_chunk> sent_;      // written, not acknowledged (retaining)
  std::size_t sent_bytes_ = 0;       // bytes of sent_ not yet acknowledged
  std::vector<std::string> spare_;   // acknowledged chunks' buffers, reused for out_
};

} // namespace troupe::transport
