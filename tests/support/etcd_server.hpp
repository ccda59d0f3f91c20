#pragma once
// A real etcd (Debian's etcd-server) for one test: its own data directory
// in a temporary directory, client and peer ports on loopback picked at
// start, killed (or stopped) and started again on the same data and ports
// to test a restart. start() returns once /health says true.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"

namespace troupe::test {

/// A loopback TCP port nobody listens on now (bound, then let go).
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("free_port: cannot bind");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

/// Sends `request` to the loopback `port` and returns the whole answer
/// (read until the server closes; HTTP/1.0), or "" when nobody answered.
inline std::string loopback_http(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

inline std::string http_get(std::uint16_t port, const std::string& path) {
  return loopback_http(port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
}

/// etcd's JSON gateway, called the way a user's curl would: POST `json` to `path`.
inline std::string etcd_client_call(std::uint16_t port, const std::string& path, const std::string& json) {
  return loopback_http(port, "POST " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                                 "Content-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json);
}

inline std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

/// The lease (decimal, as etcd's JSON writes it) `key` is held under; "" when none.
inline std::string lease_of(std::uint16_t port, const std::string& key) {
  const std::string got = etcd_client_call(port, "/v3/kv/range", "{\"key\":\"" + base64(key) + "\"}");
  const auto at = got.find("\"lease\":\"");
  if (at == std::string::npos) return {};
  const auto from = at + 9;
  return got.substr(from, got.find('"', from) - from);
}

class etcd_server {
 public:
  etcd_server() : client_port_(free_port()), peer_port_(free_port()) { start(); }
  ~etcd_server() { kill(); }
  etcd_server(const etcd_server&) = delete;
  etcd_server& operator=(const etcd_server&) = delete;

  /// "127.0.0.1:<client port>", for cluster_options::etcd.
  [[nodiscard]] std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  [[nodiscard]] std::uint16_t port() const noexcept { return client_port_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

  /// Starts it (again, on the same data and ports) and waits until healthy.
  void start() {
    if (pid_ > 0) return;
    const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {"etcd",
                                     "--name", "test",
                                     "--data-dir", dir_.file("data"),
                                     "--listen-client-urls", client,
                                     "--advertise-client-urls", client,
                                     "--listen-peer-urls", peer,
                                     "--initial-advertise-peer-urls", peer,
                                     "--initial-cluster", "test=" + peer,
                                     "--log-level", "warn"};
    const std::string log = dir_.file("etcd.log");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("etcd_server: fork failed");
    if (pid_ == 0) {
      // Dies with us, even when we crash or _Exit (no etcd or member left behind).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("etcd", argv.data());
      ::_exit(127);
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      if (http_get(client_port_, "/health").find("\"health\":\"true\"") != std::string::npos) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("etcd_server: etcd exited at start (see " + log + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child's readiness, not synchronising threads
    }
    kill();
    throw std::runtime_error("etcd_server: etcd not healthy within 20 s (see " + log + ")");
  }

  /// kill -9, and waits for it to be gone.
  void kill() { signal_and_wait(SIGKILL); }
  /// A clean stop (SIGTERM), waited for.
  void stop() { signal_and_wait(SIGTERM); }

 private:
  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  temp_dir dir_;
  std::uint16_t client_port_;
  std::uint16_t peer_port_;
  pid_t pid_ = -1;
};

} // namespace troupe::test
