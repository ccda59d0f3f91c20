#include "streams/tls_core.hpp"

#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace troupe::transport::tls_detail {

namespace {

int bio_read(BIO* b, char* out, int len) {
  BIO_clear_retry_flags(b);
  const int n = static_cast<tls_core*>(BIO_get_data(b))->take_input(out, len);
  if (n > 0) return n;
  BIO_set_retry_read(b);
  return -1;
}
int bio_write(BIO* b, const char* in, int len) {
  BIO_clear_retry_flags(b);
  try {
    static_cast<tls_core*>(BIO_get_data(b))->put_output(in, len);
  } catch (...) {
    return -1;  // no memory: the SSL call fails, and the stream with it
  }
  return len;
}
long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* memory_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "troupe tls stream");
    BIO_meth_set_read(bm, &bio_read);
    BIO_meth_set_write(bm, &bio_write);
    BIO_meth_set_ctrl(bm, &bio_ctrl);
    BIO_meth_set_create(bm, &bio_create);
    return bm;
  }();
  return m;
}

} // namespace

tls_core::tls_core(tcp::socket sock, std::shared_ptr<tls_context> ctx, bool connector, std::string key,
                   std::function<void(bool)> on_handshake)
    : peer(prepare_tcp(sock)),
      sock_(std::move(sock)),
      fd_(sock_.native_handle()),
      ctx_(std::move(ctx)),
      ticket_{ctx_.get(), std::move(key)},
      on_handshake_(std::move(on_handshake)) {
  ssl_ = ctx_->new_ssl(connector, ticket_.key);
  BIO* bio = ssl_ ? BIO_new(memory_method()) : nullptr;
  if (bio == nullptr) throw std::runtime_error("troupe: cannot make a TLS session: out of memory");
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // both directions: one BIO, whose one reference the SSL takes
  SSL_set_app_data(ssl_, &ticket_);
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);  // a stranger holds no record buffers
}

void tls_core::read_some(char* data, std::size_t size, byte_stream::handler done) {
  rdata_ = data;
  rsize_ = size;
  rdone_ = std::move(done);
  // Nothing to decrypt: the armed read tries the socket at once, and the
  // lock (which a worker's try_write may hold) is taken only once bytes came.
  if (drained_ && in_pos_ == in_end_) return arm(true, false);
  pump(true);
}

void tls_core::write(const char* data, std::size_t size, byte_stream::handler done) {
  {
    std::lock_guard guard(mx_);
    wdata_ = data;
    wsize_ = size;
    wtaken_ = 0;
    wdone_ = std::move(done);
  }
  pump(true);
}

ssize_t tls_core::try_write(const char* data, std::size_t size) noexcept {
  std::lock_guard guard(mx_);
  if (closed_ || failed_) {
    errno = EPIPE;
    return -1;
  }
  if (!established_ || wdone_) {  // the I/O thread writes (the handshake, or a write in progress)
    errno = EAGAIN;
    return -1;
  }
  flush_locked();
  ERR_clear_error();
  const std::size_t taken = failed_ ? 0 : encrypt_locked(data, size);
  flush_locked();
  if ((failed_ || out_done_ < out_.size()) && !flush_posted_) {
    // What the socket did not take goes when it can (or the failure reaches
    // the pending read): the I/O thread waits for it.
    flush_posted_ = true;
    try {
      asio::post(sock_.get_executor(), [self = shared_from_this()] {
        {
          std::lock_guard g(self->mx_);
          self->flush_posted_ = false;
        }
        self->pump(false);
      });
    } catch (...) {
      flush_posted_ = false;
      fail_locked(asio::error::no_memory);
    }
  }
  if (taken > 0) return static_cast<ssize_t>(taken);
  errno = failed_ ? EPIPE : EAGAIN;
  return -1;
}

void tls_core::close() noexcept {
  ready r;
  {
    std::lock_guard guard(mx_);
    if (closed_) return;
    if (established_ && !failed_) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // close_notify, if the socket takes it now
      flush_locked();
    }
    closed_ = true;
    if (rdone_) r.add(std::exchange(rdone_, nullptr), asio::error::operation_aborted, 0);
    if (wdone_) r.add(std::exchange(wdone_, nullptr), asio::error::operation_aborted, wtaken_);
  }
  error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_both, ignored);
  sock_.close(ignored);
  try {
    run(r, true);
  } catch (...) {
    // Cannot post (no memory): the handlers go with the stream.
  }
}

void tls_core::pump(bool defer) {
  ready r;
  bool input = false;
  bool output = false;
  {
    std::lock_guard guard(mx_);
    if (closed_) return;
    // OpenSSL's error queue is this thread's: empty, so a failure read
    // from it is this call's (failure_of empties it again).
    ERR_clear_error();
    if (!failed_) step_locked(r);
    flush_locked();
    if (failed_) {
      fail_ops_locked(r);
    } else {
      input = want_input_;
      output = out_done_ < out_.size();
    }
  }
  // The socket is read by the armed read, without the lock, so a worker's
  // try_write never waits for that system call.
  arm(input, output);
  run(r, defer);
}

void tls_core::run(ready& r, bool defer) {
  if (r.handshake >= 0 && on_handshake_) on_handshake_(r.handshake == 1);
  for (int i = 0; i < r.count; ++i) {
    auto& it = r.items[i];
    if (defer) {
      asio::post(sock_.get_executor(), [h = std::move(it.h), ec = it.ec, n = it.n]() mutable { h(ec, n); });
    } else {
      it.h(it.ec, it.n);
    }
  }
}

void tls_core::fail_ops_locked(ready& r) {
  want_input_ = false;
  if (rdone_) r.add(std::exchange(rdone_, nullptr), failed_, 0);
  if (wdone_) r.add(std::exchange(wdone_, nullptr), failed_, wtaken_);
}

void tls_core::step_locked(ready& r) {
  want_input_ = false;
  if (!established_) {
    const int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      const int e = SSL_get_error(ssl_, rc);
      if (e == SSL_ERROR_WANT_READ) {
        want_input_ = true;
      } else {
        fail_locked(failure_of(e));
      }
      return;
    }
    handshaken_locked(r);
  }
  if (wdone_) {
    wtaken_ += encrypt_locked(wdata_ + wtaken_, wsize_ - wtaken_);
    if (failed_) return;
    if (wtaken_ == wsize_) r.add(std::exchange(wdone_, nullptr), {}, wsize_);
  }
  if (rdone_) {
    bool want = false;
    const std::size_t n = decrypt_locked(rdata_, rsize_, want);
    drained_ = SSL_has_pending(ssl_) == 0;
    if (failed_) return;
    if (n > 0) {
      r.add(std::exchange(rdone_, nullptr), {}, n);
    } else {
      want_input_ = want;
    }
  }
}

void tls_core::handshaken_locked(ready& r) {
  established_ = true;
  SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  names_ = uri_names(SSL_get0_peer_certificate(ssl_));
  r.handshake = SSL_session_reused(ssl_) ? 1 : 0;
}

std::size_t tls_core::encrypt_locked(const char* data, std::size_t size) {
  std::size_t taken = 0;
  while (taken < size && out_.size() - out_done_ < out_limit) {
    std::size_t n = 0;
    const int rc = SSL_write_ex(ssl_, data + taken, std::min(size - taken, record_bytes), &n);
    if (rc != 1) {
      fail_locked(failure_of(SSL_get_error(ssl_, rc)));
      break;
    }
    taken += n;
  }
  return taken;
}

std::size_t tls_core::decrypt_locked(char* data, std::size_t size, bool& want_input) {
  std::size_t got = 0;
  while (got < size) {
    std::size_t n = 0;
    const int rc = SSL_read_ex(ssl_, data + got, size - got, &n);
    if (rc == 1) {
      got += n;
      // All that came is decrypted: another call would only say so.
      if (in_pos_ == in_end_ && SSL_has_pending(ssl_) == 0) break;
      continue;
    }
    const int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ) {
      want_input = got == 0;
    } else if (e == SSL_ERROR_ZERO_RETURN) {
      if (got == 0) fail_locked(asio::error::eof);  // the peer's close_notify
    } else {
      // What came before the bad record was authenticated, but the link
      // ends anyway: a reliable link resends what was not acknowledged.
      fail_locked(failure_of(e));
      return 0;
    }
    break;
  }
  return got;
}

void tls_core::make_room() {
  const std::size_t want = established_ ? in_established : in_handshake;
  if (in_pos_ == in_end_) {
    in_pos_ = in_end_ = 0;
  } else if (in_pos_ > 0) {
    std::memmove(in_.data(), in_.data() + in_pos_, in_end_ - in_pos_);
    in_end_ -= in_pos_;
    in_pos_ = 0;
  }
  if (in_.size() < want) in_.resize(want);
}

void tls_core::flush_locked() {
  while (out_done_ < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + out_done_, out_.size() - out_done_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      out_done_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    fail_locked(error_code(errno, boost::system::system_category()));
    return;
  }
  out_.clear();
  out_done_ = 0;
}

error_code tls_core::failure_of(int e) {
  if (e == SSL_ERROR_SSL) {
    const long verified = SSL_get_verify_result(ssl_);
    if (verified != X509_V_OK) return {static_cast<int>(-verified), tls_category()};
    const unsigned long err = ERR_peek_last_error();
    ERR_clear_error();
    if (err != 0 && !ERR_SYSTEM_ERROR(err)) {
      return {static_cast<int>(ERR_PACK(ERR_GET_LIB(err), 0, ERR_GET_REASON(err))), tls_category()};
    }
  }
  ERR_clear_error();
  if (e == SSL_ERROR_SYSCALL && errno != 0) return {errno, boost::system::system_category()};
  return {static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_MESSAGE)), tls_category()};
}

void tls_core::arm(bool input, bool output) {
  if (input && !read_armed_) {
    // A read, not a wait for readability: Asio tries it at once and, when
    // the socket has nothing, queues it with no system call (a wait would
    // re-register the descriptor with epoll every time, and wake the
    // reactor once more for the writability that re-registering reports).
    read_armed_ = true;
    make_room();
    sock_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                          [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }
  if (output && !write_armed_) {
    write_armed_ = true;
    sock_.async_wait(tcp::socket::wait_write,
                     [self = shared_from_this()](const error_code& ec) { self->on_writable(ec); });
  }
}

void tls_core::on_read(const error_code& ec, std::size_t n) {
  read_armed_ = false;
  in_end_ += n;
  if (ec) {
    std::lock_guard guard(mx_);
    if (closed_) return;
    if (ec != asio::error::operation_aborted) fail_locked(ec);  // eof too: the peer hung up
  }
  pump(false);
}

void tls_core::on_writable(const error_code& ec) {
  write_armed_ = false;
  {
    std::lock_guard guard(mx_);
    if (closed_) return;
    if (ec && ec != asio::error::operation_aborted) fail_locked(ec);
  }
  pump(false);
}

} // namespace troupe::transport::tls_detail
