#pragma once
/// @file A minimal HTTP/1.1 client over a blocking loopback socket, for the
/// endpoint tests: one request, the whole answer, a receive deadline.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace troupe::test {

/// A connected socket to 127.0.0.1:port (closed on destruction).
class http_connection {
 public:
  explicit http_connection(std::uint16_t port, int timeout_ms = 10000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect");
    }
  }
  ~http_connection() { ::close(fd_); }
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close first: what it answered is still read
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  /// Everything until the server closes (or the receive deadline: then
  /// what came so far, and `timed_out`).
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) timed_out = true;
      return out;
    }
  }
  bool timed_out = false;

 private:
  int fd_ = -1;
};

/// The status code of an HTTP answer ("HTTP/1.1 200 OK..."), or 0.
inline int http_status(std::string_view answer) {
  if (answer.size() < 12 || answer.substr(0, 5) != "HTTP/") return 0;
  return std::stoi(std::string(answer.substr(9, 3)));
}

/// The body of an HTTP answer (after the blank line).
inline std::string http_body(const std::string& answer) {
  const auto at = answer.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : answer.substr(at + 4);
}

/// GET `path` and return the whole answer.
inline std::string http_get(std::uint16_t port, std::string_view path) {
  http_connection c(port);
  c.send("GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  return c.read_all();
}

} // namespace troupe::test
