#pragma once
// Private to the streams: the state of one TLS stream (see tls_stream.hpp):
// the SSL session on memory, the ciphertext buffers, the pending read and
// write, and who may touch what. Shared (enable_shared_from_this) because
// the socket waits it arms keep it alive after the stream is gone.
//
// Threads: everything runs on the I/O thread except try_write (any thread,
// one at a time). Under mx_: the SSL object and what OpenSSL writes into
// (out_), the pending write, the failure and the closed flag. The I/O
// thread's alone: the input buffer (after the handshake only its SSL calls
// read it), the pending read and the socket waits, so reading the socket
// never waits for a writer holding mx_.

#include <openssl/ssl.h>
#include <sys/types.h>

#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>

#include "streams/byte_stream.hpp"
#include "streams/tcp_stream.hpp"
#include "streams/tls_context.hpp"

namespace troupe::transport {

/// The category of a TLS failure's error code (see tls_stream.hpp).
[[nodiscard]] const boost::system::error_category& tls_category() noexcept;

namespace tls_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

/// Ciphertext held unsent beyond which nothing more is encrypted.
constexpr std::size_t out_limit = std::size_t{256} << 10;
/// Plaintext per SSL_write: one record.
constexpr std::size_t record_bytes = 16384;
/// The input buffer: small while a stranger handshakes, then room for a
/// burst of records.
constexpr std::size_t in_handshake = 2048;
constexpr std::size_t in_established = std::size_t{64} << 10;

/// Completions to run once the stream's lock is let go.
struct ready {
  struct item {
    byte_stream::handler h;
    error_code ec;
    std::size_t n = 0;
  };
  item items[2];
  int count = 0;
  int handshake = -1;  // the handshake ended: 0 in full, 1 resumed
  void add(byte_stream::handler h, error_code ec, std::size_t n) { items[count++] = {std::move(h), ec, n}; }
};

class tls_core final : public std::enable_shared_from_this<tls_core> {
 public:
  tls_core(tcp::socket sock, std::shared_ptr<tls_context> ctx, bool connector, std::string key,
           std::function<void(bool)> on_handshake);
  ~tls_core() {
    if (ssl_ != nullptr) SSL_free(ssl_);
  }
  tls_core(const tls_core&) = delete;
  tls_core& operator=(const tls_core&) = delete;

  void read_some(char* data, std::size_t size, byte_stream::handler done);
  void write(const char* data, std::size_t size, byte_stream::handler done);
  ssize_t try_write(const char* data, std::size_t size) noexcept;
  void close() noexcept;
  [[nodiscard]] std::vector<std::string> names() {
    std::lock_guard guard(mx_);
    return names_;
  }
  const tcp_peer peer;  ///< the other end, for describe() and peer_host()

  // The BIO's side (under mx_, inside an SSL call).
  int take_input(char* out, int len) noexcept {
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(len), in_end_ - in_pos_);
    if (n == 0) return 0;  // (in_ may not be allocated yet)
    std::memcpy(out, in_.data() + in_pos_, n);
    in_pos_ += n;
    return static_cast<int>(n);
  }
  void put_output(const char* in, int len) { out_.append(in, static_cast<std::size_t>(len)); }

 private:
  /// Moves the pending read and write (and the handshake) on, taking
  /// bytes from the socket while OpenSSL wants them; runs what completed,
  /// posted when `defer` (called from an initiation). The I/O thread.
  void pump(bool defer);
  void step_locked(ready& r);
  /// (locked) The stream failed: the pending operations complete with why.
  void fail_ops_locked(ready& r);
  void handshaken_locked(ready& r);
  std::size_t encrypt_locked(const char* data, std::size_t size);
  std::size_t decrypt_locked(char* data, std::size_t size, bool& want_input);
  /// Makes room at the end of in_ for the next read (the I/O thread, with
  /// no read armed: the armed read writes into that room).
  void make_room();
  void flush_locked();
  void fail_locked(error_code ec) {
    if (!failed_) failed_ = ec;
  }
  /// The failure OpenSSL reports for `e` (SSL_get_error's).
  error_code failure_of(int e);
  /// Reads the socket into in_ (`input`) or waits for it to be writable
  /// (`output`), unless already doing so. The I/O thread.
  void arm(bool input, bool output);
  void on_read(const error_code& ec, std::size_t n);
  void on_writable(const error_code& ec);
  void run(ready& r, bool defer);

  tcp::socket sock_;
  const int fd_;
  std::shared_ptr<tls_context> ctx_;
  ticket_target ticket_;
  std::function<void(bool)> on_handshake_;

  // The I/O thread's (written under mx_ where OpenSSL reads them).
  std::vector<char> in_;  // ciphertext received, not yet taken by OpenSSL
  std::size_t in_pos_ = 0;
  std::size_t in_end_ = 0;
  bool read_armed_ = false;
  bool write_armed_ = false;
  char* rdata_ = nullptr;  // the pending read
  std::size_t rsize_ = 0;
  byte_stream::handler rdone_;
  /// OpenSSL holds nothing unread (no record, no plaintext): when in_ is
  /// empty too, a new read goes straight to the socket, without the lock.
  bool drained_ = false;

  // Under mx_: everything OpenSSL touches, and what both threads see.
  std::mutex mx_;
  SSL* ssl_ = nullptr;
  std::string out_;  // ciphertext not yet sent
  std::size_t out_done_ = 0;
  const char* wdata_ = nullptr;  // the pending write
  std::size_t wsize_ = 0;
  std::size_t wtaken_ = 0;
  byte_stream::handler wdone_;
  bool want_input_ = false;  // OpenSSL waits for bytes the socket has not given yet
  bool flush_posted_ = false;
  bool established_ = false;  // the TLS handshake is over
  bool closed_ = false;
  error_code failed_;
  std::vector<std::string> names_;
};

} // namespace tls_detail
} // namespace troupe::transport
