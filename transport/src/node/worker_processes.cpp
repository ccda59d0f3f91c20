#include "node/worker_processes.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <future>
#include <system_error>
#include <thread>

#include "link/deadline.hpp"
#include "node/node_impl.hpp"
#include "node/worker_launch.hpp"
#include "streams/local_streams.hpp"
#include "streams/shm_segment.hpp"
#include "streams/shm_stream.hpp"

extern char** environ;

namespace troupe::transport {

/// A worker's link: the parent's ends, and the child's (which go to
/// worker_launch::link_fd and second_fd).
struct link_ends {
  int parent_read = -1;   // the socketpair end, the control socket, or the pipe the parent reads
  int parent_write = -1;  // pipes: the pipe the parent writes
  int segment = -1;       // shared memory: the parent's segment descriptor
  int child[2] = {-1, -1};
  void close_parent() noexcept {
    for (int fd : {parent_read, parent_write, segment}) {
      if (fd >= 0) ::close(fd);
    }
    parent_read = parent_write = segment = -1;
  }
  void close_child() noexcept {
    for (int& fd : child) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
};

namespace {

failure io_failure(const char* what, int err) { return failure{errc::io_error, std::string(what) + ": " + std::strerror(err)}; }

/// Pipes each way, or a socketpair (plus the segment for shared memory).
std::optional<failure> make_link(worker_link link, std::size_t ring_bytes, link_ends& l) {
  if (link == worker_link::pipes) {
    int down[2], up[2];
    if (::pipe2(down, O_CLOEXEC) != 0) return io_failure("pipe", errno);
    if (::pipe2(up, O_CLOEXEC) != 0) {
      const int err = errno;
      ::close(down[0]);
      ::close(down[1]);
      return io_failure("pipe", err);
    }
    l = {up[0], down[1], -1, {down[0], up[1]}};
    return std::nullopt;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return io_failure("socketpair", errno);
  l = {sv[0], -1, -1, {sv[1], -1}};
  if (link != worker_link::shared_memory) return std::nullopt;
  try {
    l.segment = shm::make_segment(ring_bytes);
    l.child[1] = ::fcntl(l.segment, F_DUPFD_CLOEXEC, 0);
    if (l.child[1] < 0) throw std::system_error(errno, std::generic_category(), "dup");
  } catch (const std::exception& ex) {
    l.close_parent();
    l.close_child();
    return failure{errc::io_error, std::string("cannot make the shared segment: ") + ex.what()};
  }
  return std::nullopt;
}

/// Everything the child needs, made before fork: after it, only
/// async-signal-safe calls until exec.
struct launch_plan {
  std::string exe;
  std::vector<std::string> args, env;
  std::vector<char*> argv, envp;
  int child_fds[2] = {-1, -1};
  pid_t parent = 0;
  std::promise<pid_t> forked;
  std::atomic<int> state{0};  // 0 pending, 1 forking (the I/O thread took it), 2 abandoned (timed out)
};

std::shared_ptr<launch_plan> make_plan(const worker_options& o, const std::string& name, const std::string& cookie,
                                       const link_ends& l) {
  auto p = std::make_shared<launch_plan>();
  p->exe = o.executable.empty() ? "/proc/self/exe" : o.executable;
  p->args = worker_launch::command(p->exe, o.link, name, o.args);
  for (auto& a : p->args) p->argv.push_back(a.data());
  p->argv.push_back(nullptr);
  const std::string var = std::string(worker_launch::cookie_variable) + "=";
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, var.c_str(), var.size()) != 0) p->env.emplace_back(*e);
  }
  p->env.push_back(var + cookie);  // the child proves the parent's secret
  for (auto& e : p->env) p->envp.push_back(e.data());
  p->envp.push_back(nullptr);
  p->child_fds[0] = l.child[0];
  p->child_fds[1] = l.child[1];
  p->parent = ::getpid();
  return p;
}

/// In the child, after fork: the link's descriptors into place, then exec.
[[noreturn]] void exec_child(const launch_plan& p) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != p.parent) ::_exit(1);  // the parent died already
  // Out of the way first (a source may sit on a target number), then into
  // place; a dup has no close-on-exec.
  int high[2];
  for (int i = 0; i < 2; ++i) high[i] = p.child_fds[i] < 0 ? -1 : ::fcntl(p.child_fds[i], F_DUPFD, 100);
  for (int i = 0; i < 2; ++i) {
    if (high[i] >= 0) ::dup2(high[i], worker_launch::link_fd + i);
  }
  // Asio's sockets are not close-on-exec: the worker must not inherit this
  // process's listeners and connections.
  ::close_range(worker_launch::link_fd + (p.child_fds[1] < 0 ? 1 : 2), ~0U, 0);
  ::execve(p.exe.c_str(), p.argv.data(), p.envp.data());
  ::_exit(127);
}

/// Forks on the node's I/O thread; the pid, -errno, or 0 when it did not
/// happen within `timeout` (then it never will).
/// On the I/O thread: forks the child; its pid, or -errno. The child's
/// ends of the link are closed here either way.
pid_t fork_now(const launch_plan& p) {
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(p);
  const int err = errno;
  for (int fd : p.child_fds) {
    if (fd >= 0) ::close(fd);
  }
  return pid < 0 ? -err : pid;
}

pid_t fork_worker(asio::io_context& io, const std::shared_ptr<launch_plan>& plan, std::chrono::milliseconds timeout) {
  auto pid_future = plan->forked.get_future();
  asio::post(io, [p = plan] {
    int expected = 0;
    if (!p->state.compare_exchange_strong(expected, 1)) return;  // the caller gave up: no child
    p->forked.set_value(fork_now(*p));
  });
  if (pid_future.wait_for(timeout) != std::future_status::ready) {
    int expected = 0;
    if (plan->state.compare_exchange_strong(expected, 2)) return 0;
    pid_future.wait();  // the fork is under way: see it through
  }
  return pid_future.get();
}

std::string describe_exit(int pid, int status) {
  const std::string who = "worker process " + std::to_string(pid);
  if (WIFEXITED(status)) return who + " exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return who + " was killed by signal " + std::to_string(sig) + (name != nullptr ? std::string(" (") + name + ")" : "");
  }
  return who + " ended";
}
} // namespace

result<std::pair<peer, int>> worker_processes::start(const worker_options& o) {
  if (o.start_timeout.count() < 0) throw std::invalid_argument("troupe::worker_options: start_timeout must not be negative");
  node_.blocking_call("troupe::node::start_worker");
  if (node_.stopping()) return failure{errc::shutting_down, "the node is shutting down"};
  reap_ended();
  link_ends l;
  if (auto bad = make_link(o.link, node_.opts.shm_ring_bytes, l)) return std::move(*bad);
  const std::string name = name_of(o);
  const pid_t pid = fork_worker(node_.io, make_plan(o, name, node_.cookie, l), o.start_timeout);
  if (pid <= 0) {
    if (pid == 0) l.close_child();  // never forked: the child's ends are still ours
    l.close_parent();
    if (pid == 0) return failure{ask_error::timeout, "the node did not start the worker in time"};
    return io_failure("fork", -pid);
  }
  {
    std::lock_guard lock(mx_);
    pids_.push_back(pid);
  }
  auto link = node_.adopt_stream(parent_stream(o.link, l, pid), /*initiator=*/true, o.start_timeout, pid);
  return started(link, pid, name);
}

std::unique_ptr<byte_stream> worker_processes::parent_stream(worker_link link, const link_ends& l, int pid) {
  if (link == worker_link::shared_memory) {
    return make_shm_stream(node_.io, shm::link_fds{l.parent_read, l.segment, 0}, "shm worker " + std::to_string(pid));
  }
  return make_fd_stream(node_.io, l.parent_read, l.parent_write >= 0 ? l.parent_write : l.parent_read);
}

result<std::pair<peer, int>> worker_processes::started(const result<peer>& link, int pid, const std::string& name) {
  if (!link.ok()) {
    std::lock_guard lock(mx_);  // not a pid reaped (and maybe reused) meanwhile
    if (std::find(pids_.begin(), pids_.end(), pid) != pids_.end()) ::kill(pid, SIGKILL);
    return failure{link.error(), "worker " + name + " did not start: " + std::string(link.message())};
  }
  return std::make_pair(link.value(), pid);
}

void worker_processes::start_then(const worker_options& o, std::function<void(result<std::pair<peer, int>>)> done) {
  if (o.start_timeout.count() < 0) throw std::invalid_argument("troupe::worker_options: start_timeout must not be negative");
  // Every end goes through the dial's state: its destructor reports a start
  // dropped with the I/O context (the node stopping) as shutting_down.
  auto waiter = std::make_shared<dial_state>();
  auto pid_of = std::make_shared<int>(0);
  const std::string name = name_of(o);
  waiter->then = [this, pid_of, name, done = std::move(done)](dial_state& w) {
    if (*pid_of <= 0) return done(failure{w.error, w.detail});
    done(started(node_impl::outcome(w), *pid_of, name));
  };
  if (node_.stopping()) return waiter->finish(nullptr, errc::shutting_down, "the node is shutting down");
  reap_ended();
  // Whatever the posted fork has not handed on is closed with it (a post
  // dropped as the node stops never forks).
  std::shared_ptr<link_ends> l(new link_ends, [](link_ends* e) {
    e->close_parent();
    e->close_child();
    delete e;
  });
  if (auto bad = make_link(o.link, node_.opts.shm_ring_bytes, *l)) return waiter->finish(nullptr, bad->code, bad->message);
  auto plan = make_plan(o, name, node_.cookie, *l);
  asio::post(node_.io, [this, plan, l, waiter, pid_of, link = o.link, timeout = o.start_timeout] {
    const pid_t pid = fork_now(*plan);
    l->child[0] = l->child[1] = -1;  // fork_now closed them
    if (pid < 0) {
      auto f = io_failure("fork", -pid);
      return waiter->finish(nullptr, f.code, f.message);
    }
    {
      std::lock_guard lock(mx_);
      pids_.push_back(pid);
    }
    *pid_of = pid;  // read by `then`, which runs after this on the I/O thread or after the timer
    try {
      auto stream = parent_stream(link, *l, pid);
      l->parent_read = l->parent_write = l->segment = -1;  // the stream owns them
      expire_after(node_.io, timeout, [w = std::weak_ptr<dial_state>(waiter)] {
        if (auto waiter = w.lock()) waiter->finish(nullptr, ask_error::timeout, "the worker did not answer within start_timeout");
      });
      node_.start_connection(std::move(stream), handshake::role::connector, std::nullopt, waiter, pid);
    } catch (const std::exception& ex) {
      waiter->finish(nullptr, errc::io_error, std::string("cannot connect to the worker: ") + ex.what());
    }
  });
}

std::string worker_processes::name_of(const worker_options& o) {
  static std::atomic<unsigned> seq{0};  // one count for every way of starting one
  return o.name.empty() ? node_.opts.name + "-worker-" + std::to_string(++seq) : o.name;
}

void worker_processes::reap_ended() {
  // Workers that ended without their exit status being collected (a busy
  // worker outlives its link by a while): reap them now.
  std::lock_guard lock(mx_);
  std::erase_if(pids_, [](int pid) {
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) == pid;
  });
}

std::string worker_processes::exit_of(int pid, const std::string& reason) {
  // The stream closes as the process dies: its exit status follows shortly.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  for (;;) {
    int status = 0;
    {
      std::lock_guard lock(mx_);  // reaping and forgetting the pid are one step
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        std::erase(pids_, pid);
        return describe_exit(pid, status);
      }
      if (r < 0) break;
    }
    // Stopping: no waiting here (reap_all ends them after the goodbye).
    if (node_.stopping() || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return "worker process " + std::to_string(pid) + " is unreachable: " + reason;
}

void worker_processes::reap_all(std::chrono::milliseconds grace) {
  std::vector<int> pids;
  {
    std::lock_guard lock(mx_);
    pids.swap(pids_);
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (int pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

} // namespace troupe::transport
