#include "scrape.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace troupe::top {
namespace {

struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};

int connect_to(const std::string& host, const std::string& port, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    error = std::string("cannot resolve ") + host + ": " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      error = std::string("cannot connect to ") + host + ":" + port + ": " + std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

} // namespace

std::optional<std::string> scrape(const std::string& host, const std::string& port, std::chrono::milliseconds timeout,
                                  std::string& error) {
  const fd_closer c{connect_to(host, port, error)};
  if (c.fd < 0) return std::nullopt;
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: troupe-top\r\n\r\n";
  if (::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    error = "cannot send the request";
    return std::nullopt;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string answer;
  char buf[16384];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{c.fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      error = "no answer within " + std::to_string(timeout.count()) + " ms";
      return std::nullopt;
    }
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0) {
      error = std::string("read failed: ") + std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) break;  // the endpoint closes after each answer
    if (answer.size() + static_cast<std::size_t>(n) > max_answer_bytes) {
      error = "the answer is larger than " + std::to_string(max_answer_bytes >> 20) + " MiB";
      return std::nullopt;
    }
    answer.append(buf, static_cast<std::size_t>(n));
  }
  if (answer.rfind("HTTP/1.1 200", 0) != 0) {
    error = "the endpoint answered: " + answer.substr(0, answer.find('\r'));
    return std::nullopt;
  }
  const auto body = answer.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : answer.substr(body + 4);
}

} // namespace troupe::top
