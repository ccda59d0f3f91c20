#pragma once
// A troupe-test-node child process on 127.0.0.1 (ephemeral port unless
// given). Killed (SIGKILL) and reaped when the handle goes.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
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
  /// `nofile`: the child's descriptor limit (0: inherited); `log_path`:
  /// where its stderr (the log) goes (empty: this process's stderr).
  child_node(const std::string& name, std::uint16_t port = 0, int heartbeat_ms = 100, bool spawn_worker = false,
             int nofile = 0, const std::string& log_path = {}) {
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
      if (nofile > 0) {
        const rlimit r{static_cast<rlim_t>(nofile), static_cast<rlim_t>(nofile)};
        ::setrlimit(RLIMIT_NOFILE, &r);
      }
      if (!log_path.empty()) {
        const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (log >= 0) ::dup2(log, 2);
      }
      ::execl(TROUPE_TEST_NODE, TROUPE_TEST_NODE, "--name", name.c_str(), "--port", port_s.c_str(), "--heartbeat-ms",
              hb.c_str(), "--spawn-worker", spawn_worker ? "1" : "0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    port_ = static_cast<std::uint16_t>(read_value("PORT ", std::chrono::seconds(30)));
    if (spawn_worker) worker_ = read_value("WORKER ", std::chrono::seconds(30));
  }
  ~child_node() { kill(); }
  child_node(const child_node&) = delete;
  child_node& operator=(const child_node&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  /// The worker process the child spawned (with spawn_worker = true).
  [[nodiscard]] int worker_pid() const noexcept { return worker_; }
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
  /// Reads the next line, which must start with `key`, and its number.
  int read_value(const std::string& key, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pending_.find('\n') == std::string::npos) {
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
      pending_.append(buf, static_cast<std::size_t>(n));
    }
    const auto nl = pending_.find('\n');
    const std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    if (line.rfind(key, 0) != 0) throw std::runtime_error("unexpected child output: " + line);
    return std::stoi(line.substr(key.size()));
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::uint16_t port_ = 0;
  int worker_ = -1;
  std::string pending_;
};

} // namespace transport_test
