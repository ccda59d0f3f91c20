#pragma once
// Hand-driven TCP peers of a node on loopback, for bad-input and failure
// tests: a client that sends whatever it is told, and a listener a node
// dials (it may answer by hand, or never accept at all).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/frame.hpp"
#include "protocol/handshake.hpp"

namespace transport_test {

using namespace std::chrono_literals;

/// A hand-driven TCP client of a node (or, accepted by a raw_listener, a
/// hand-driven server a node dialled).
class raw_client {
 public:
  /// A connection raw_listener accepted.
  struct accepted {
    int fd;
  };
  explicit raw_client(accepted a) : fd_(a.fd), ok_(a.fd >= 0) {}
  /// Connects to 127.0.0.1:`port`, from the loopback address `from` when given (say "127.0.0.2").
  explicit raw_client(std::uint16_t port, const char* from = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (from != nullptr) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &src.sin_addr);
      (void)::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src);
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  [[nodiscard]] bool connected() const { return ok_; }
  [[nodiscard]] int fd() const { return fd_; }
  /// Sends `bytes`; once the handshake is done, the whole frames in them
  /// are numbered first, as a node's writer does (a test that wants a frame
  /// out of sequence sends it with send_raw).
  void send(std::string_view bytes) {
    if (!numbering_) return send_raw(bytes);
    std::string numbered(bytes);
    next_seq_ = troupe::transport::stamp_frames(numbered, 0, next_seq_);
    send_raw(numbered);
  }
  void send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the node may already have closed
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  /// Reads what arrives until the node closes the connection; true when it
  /// did within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
      if (n > 0) received_.append(buf, static_cast<std::size_t>(n));
    }
  }
  /// Runs the handshake as a connecting node (or as the accepting one, which
  /// welcomes the node) with `cookie`. True when established.
  /// `max_frame`: the largest frame this peer's HELLO says it takes.
  bool handshake_with(const std::string& cookie,
                      troupe::transport::handshake::role role = troupe::transport::handshake::role::connector,
                      std::uint32_t max_frame = troupe::transport::default_max_frame_bytes) {
    troupe::transport::handshake hs(role, "raw", 12345, cookie, max_frame);
    std::string out;
    hs.start(out);
    send(out);
    out.clear();
    std::string in;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.append(buf, static_cast<std::size_t>(n));
      troupe::transport::framing_error err{};
      const auto used = troupe::transport::split_frames(in, troupe::transport::default_max_frame_bytes, err, [&](const troupe::transport::frame_view& f) {
        if (hs.on_frame(f, out) == troupe::transport::handshake::status::authenticated) hs.welcome(out);  // acceptor: admit the node
        return true;
      });
      in.erase(0, used);
      send(out);
      out.clear();
      if (hs.state() == troupe::transport::handshake::status::established) return numbering_ = true;
      if (hs.state() == troupe::transport::handshake::status::failed) return false;
    }
    return false;
  }
  [[nodiscard]] const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  bool numbering_ = false;
  std::uint64_t next_seq_ = 1;
  std::string received_;
};

/// A TCP listener on loopback that a node dials, answered by hand.
class raw_listener {
 public:
  raw_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(fd_, 16) == 0 &&
          ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) == 0;
    port_ = ntohs(sa.sin_port);
  }
  ~raw_listener() { ::close(fd_); }
  raw_listener(const raw_listener&) = delete;
  raw_listener& operator=(const raw_listener&) = delete;

  [[nodiscard]] bool listening() const { return ok_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// The next connection a node made within `timeout`; nullptr when none came.
  std::unique_ptr<raw_client> accept_within(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return nullptr;
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return nullptr;
    return std::make_unique<raw_client>(raw_client::accepted{fd});
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::uint16_t port_ = 0;
};

} // namespace transport_test
