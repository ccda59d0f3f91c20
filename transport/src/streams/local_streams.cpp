#include "streams/local_streams.hpp"

#include "streams/socket_stream.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace troupe::transport {

namespace {
namespace asio = boost::asio;
using unix_socket = asio::local::stream_protocol::socket;

/// Two pipes: one to read, one to write.
class pipe_stream final : public byte_stream {
 public:
  pipe_stream(asio::io_context& io, int read_fd, int write_fd)
      : in_(io, read_fd), out_(io, write_fd), write_fd_(write_fd), what_("pipes " + std::to_string(read_fd) + "/" + std::to_string(write_fd)) {
    const int flags = ::fcntl(write_fd_, F_GETFL);
    if (flags >= 0) ::fcntl(write_fd_, F_SETFL, flags | O_NONBLOCK);
  }
  void async_read_some(char* data, std::size_t size, handler done) override {
    in_.async_read_some(asio::buffer(data, size), std::move(done));
  }
  void async_write(const char* data, std::size_t size, handler done) override {
    asio::async_write(out_, asio::buffer(data, size), std::move(done));
  }
  ssize_t try_write(const char* data, std::size_t size) noexcept override {
    // A pipe whose reader is gone raises SIGPIPE in the writing thread:
    // block it around the write and take it back, so EPIPE is all we see
    // (the process's disposition is left alone).
    sigset_t pipe_only, old;
    ::sigemptyset(&pipe_only);
    ::sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    const ssize_t n = ::write(write_fd_, data, size);
    const int err = errno;
    if (n < 0 && err == EPIPE && !::sigismember(&old, SIGPIPE)) {
      const timespec none{0, 0};
      ::sigtimedwait(&pipe_only, nullptr, &none);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = err;
    return n;
  }
  void close() noexcept override {
    boost::system::error_code ec;
    in_.close(ec);
    out_.close(ec);
  }
  [[nodiscard]] std::string describe() const override { return what_; }

 private:
  asio::posix::stream_descriptor in_;
  asio::posix::stream_descriptor out_;
  int write_fd_;
  std::string what_;
};
} // namespace

std::unique_ptr<byte_stream> make_unix_stream(unix_socket sock, std::string what) {
  return std::make_unique<socket_stream<unix_socket>>(std::move(sock), std::move(what));
}

std::unique_ptr<byte_stream> make_fd_stream(asio::io_context& io, int read_fd, int write_fd) {
  if (read_fd == write_fd) {
    // A socketpair end (or any stream socket): one descriptor both ways.
    unix_socket s(io);
    boost::system::error_code ec;
    s.assign(asio::local::stream_protocol(), read_fd, ec);
    if (ec) {
      ::close(read_fd);  // ours from the call on, whatever happens
      throw std::invalid_argument("troupe: descriptor " + std::to_string(read_fd) + " is not a stream socket: " +
                                  ec.message());
    }
    return std::make_unique<socket_stream<unix_socket>>(std::move(s), "socket " + std::to_string(read_fd));
  }
  try {
    return std::make_unique<pipe_stream>(io, read_fd, write_fd);
  } catch (const std::exception& ex) {
    // The read end may be closed already by its descriptor object.
    if (::fcntl(read_fd, F_GETFD) != -1) ::close(read_fd);
    ::close(write_fd);
    throw std::invalid_argument("troupe: descriptors " + std::to_string(read_fd) + "/" + std::to_string(write_fd) +
                                " are not a usable pipe pair: " + ex.what());
  }
}

} // namespace troupe::transport
