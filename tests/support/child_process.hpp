#pragma once
// A program run as a child process for a test or a benchmark: its stdin
// and stdout are pipes to us, it is killed with -9 (or its stdin closed,
// for a clean end), and waited for. wait_line() reads its stdout until a
// line, with a deadline.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace troupe::test {

class child_process {
 public:
  /// Starts `path` with `args` (argv[1...]).
  child_process(const std::string& path, const std::vector<std::string>& args) {
    // Close-on-exec: another child started later must not inherit our ends
    // (it would hold this one's stdin open after finish()).
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("child_process: pipe");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      throw std::runtime_error("child_process: pipe");
    }
    std::vector<std::string> all{path};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("child_process: fork");
    if (pid_ == 0) {
      // Dies with us, even when we crash or _Exit (no etcd or member left behind).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[0]);
      ::close(in[1]);
      ::close(out[0]);
      ::close(out[1]);
      ::execv(path.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~child_process() {
    kill();
    if (to_ >= 0) ::close(to_);
    ::close(from_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Reads the child's stdout until the line `want` (true), or until
  /// `within` passed or the child closed it (false).
  bool wait_line(const std::string& want, std::chrono::milliseconds within) {
    const auto until = std::chrono::steady_clock::now() + within;
    for (;;) {
      for (auto nl = buf_.find('\n'); nl != std::string::npos; nl = buf_.find('\n')) {
        const std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (line == want) return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      pollfd p{from_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char chunk[512];
      const ssize_t n = ::read(from_, chunk, sizeof chunk);
      if (n <= 0) return false;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  /// Writes `text` to the child's stdin: false when it cannot (closed).
  bool write(const std::string& text) {
    std::size_t done = 0;
    while (to_ >= 0 && done < text.size()) {
      const ssize_t n = ::write(to_, text.data() + done, text.size() - done);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return done == text.size();
  }
  /// Closes its stdin (a child that waits for it ends cleanly) and waits.
  void finish() {
    if (to_ >= 0) ::close(to_);
    to_ = -1;
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  /// kill -9, and waits for it.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string buf_;
};

} // namespace troupe::test
