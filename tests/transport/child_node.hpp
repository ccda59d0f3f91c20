#pragma once
// A troupe-test-node child process on 127.0.0.1 (ephemeral port unless
// given). Killed (SIGKILL) and reaped when the handle goes.

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace transport_test {

class child_node {
 public:
  child_node(const std::string& name, std::uint16_t port = 0, int heartbeat_ms = 100) {
    int out[2];
    int in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const std::string port_s = std::to_string(port);
    const std::string hb = std::to_string(heartbeat_ms);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::setenv("TROUPE_COOKIE", "transport-test-cookie", 1);
      ::execl(TROUPE_TEST_NODE, TROUPE_TEST_NODE, "--name", name.c_str(), "--port", port_s.c_str(), "--heartbeat-ms",
              hb.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    port_ = read_port(std::chrono::seconds(30));
  }
  ~child_node() { kill(); }
  child_node(const child_node&) = delete;
  child_node& operator=(const child_node&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  /// SIGKILL and reap.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    ::close(stdin_);
    ::close(stdout_);
  }

 private:
  std::uint16_t read_port(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        kill();
        throw std::runtime_error("child node did not report its port");
      }
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[64];
      const ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) {
        kill();
        throw std::runtime_error("child node exited before reporting its port");
      }
      line.append(buf, static_cast<std::size_t>(n));
    }
    if (line.rfind("PORT ", 0) != 0) throw std::runtime_error("unexpected child output: " + line);
    return static_cast<std::uint16_t>(std::stoi(line.substr(5)));
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::uint16_t port_ = 0;
};

} // namespace transport_test
