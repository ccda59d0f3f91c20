#pragma once
// Private to the transport. The one thing a transport must provide: a reliable, ordered byte
// stream. Connections (framing, handshake, heartbeats, remote handles) run
// over this interface, so TCP, Unix sockets and pipes differ only in how
// a stream is opened. Implementations own their descriptor.
//
// Threads: `async_*` and `close` are called on the node's I/O thread only;
// `try_write` may be called from any thread, one at a time (the connection
// serialises writers), never after `close`.

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

namespace troupe::transport {

class byte_stream {
 public:
  using handler = std::function<void(const boost::system::error_code&, std::size_t)>;
  virtual ~byte_stream() = default;

  /// Reads at least one byte into [data, data + size) (I/O thread).
  virtual void async_read_some(char* data, std::size_t size, handler done) = 0;
  /// Writes all of [data, data + size) (I/O thread); the bytes stay valid
  /// until `done` runs.
  virtual void async_write(const char* data, std::size_t size, handler done) = 0;
  /// Writes what the stream takes now without blocking: the count, or -1
  /// with errno set (EAGAIN when it takes nothing now).
  virtual ssize_t try_write(const char* data, std::size_t size) noexcept = 0;
  /// Ends the stream; pending operations complete with operation_aborted.
  virtual void close() noexcept = 0;
  /// The other end, for logs ("127.0.0.1:4242", "pipe 7").
  [[nodiscard]] virtual std::string describe() const = 0;
  /// A TCP stream: the other end's IP address; empty for other streams.
  [[nodiscard]] virtual std::string peer_host() const { return {}; }
  /// A TLS stream: its peer is named by a certificate (certified_names()).
  [[nodiscard]] virtual bool secured() const noexcept { return false; }
  /// A TLS stream whose handshake is over: the URI names of the peer's
  /// verified certificate (empty before, and for other streams). Any thread.
  [[nodiscard]] virtual std::vector<std::string> certified_names() const { return {}; }

  // -- Polled streams (shared memory): bytes can be taken without a system
  // -- call, so the connection also reads from idle pool workers (idle_poller).
  /// True for a polled stream; the rest of this section applies only then.
  [[nodiscard]] virtual bool pollable() const noexcept { return false; }
  /// Copies what has arrived into [data, data + size): the count, 0 when
  /// nothing has. Sets `ec` when the stream is over (eof once the peer is
  /// gone and everything it wrote was read). One thread at a time.
  virtual std::size_t read_now(char* data, std::size_t size, boost::system::error_code& ec) noexcept;
  /// True when read_now would return bytes or an error. Any thread.
  [[nodiscard]] virtual bool readable() const noexcept { return false; }
  /// One more (on) or one fewer (off) thread polls: while any does, the
  /// writer need not ring the doorbell. Any thread.
  virtual void watch(bool /*on*/) noexcept {}
  /// I/O thread: runs `ready` on the I/O thread once bytes may have arrived
  /// unseen by any poller, or the stream broke; at once when bytes are
  /// there now, unless `if_ready_now` is false (the reader that holds them
  /// looks again when it lets go).
  virtual void async_wait_readable(std::function<void()> ready, bool if_ready_now);

  // -- Descriptor passing (shared memory): how a buffer is handed over.
  /// Sends a duplicate of `fd` to the peer, ahead of anything written after
  /// this call. False when the stream cannot (now). Called like try_write.
  virtual bool pass_fd(int /*fd*/) noexcept { return false; }
  /// The next descriptor the peer passed (ours to close), or -1 when none
  /// has arrived. Called like read_now.
  virtual int take_fd() noexcept { return -1; }
};

inline std::size_t byte_stream::read_now(char*, std::size_t, boost::system::error_code& ec) noexcept {
  ec = boost::asio::error::operation_not_supported;
  return 0;
}
inline void byte_stream::async_wait_readable(std::function<void()>, bool) {}

} // namespace troupe::transport
