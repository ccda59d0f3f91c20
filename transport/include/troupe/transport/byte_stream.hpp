#pragma once
/// @file The one thing a transport must provide: a reliable, ordered byte
/// stream. Sessions (framing, handshake, heartbeats, remote handles) run
/// over this interface, so TCP, Unix sockets and pipes differ only in how
/// a stream is opened. Implementations own their descriptor.
///
/// Threads: `async_*` and `close` are called on the node's I/O thread only;
/// `try_write` may be called from any thread, one at a time (the session
/// serialises writers), never after `close`.

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

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
};

} // namespace troupe::transport
