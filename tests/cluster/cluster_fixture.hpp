#pragma once
// Cluster members for tests: an actor system, a node on loopback and its
// cluster membership in this process (member_node), or in a child process
// that can be killed with -9 (member_process, running troupe-test-member).
// Events reach the test as lines: "up beta 1", "down beta 1", "left beta 1"
// (name and epoch).

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <poll.h>

#include "support/child_process.hpp"
#include "support/etcd_server.hpp"
#include "support/test_nodes.hpp"
#include "support/test_support.hpp"
#include "test_messages.pb.h"
#include "troupe/cluster/cluster.hpp"
#include "troupe/troupe.hpp"

namespace cluster_test {

using namespace std::chrono_literals;
inline constexpr const char* test_cookie = "cluster-test-cookie";

inline troupe::node_options node_opts(std::string name) {
  return troupe::test::quick_node_options(std::move(name), test_cookie);
}

inline troupe::cluster_options cluster_opts(std::vector<std::string> etcd, std::chrono::milliseconds ttl = 3s) {
  troupe::cluster_options o;
  o.etcd = std::move(etcd);
  o.name = "test";
  o.ttl = ttl;
  o.request_timeout = std::min<std::chrono::milliseconds>(500ms, ttl / 4);
  return o;
}

struct member_events : troupe::actor<member_events> {
  using out_ref = troupe::actor_ref<troupe::inbox<std::string>::actor_type>;
  explicit member_events(out_ref out) : out_(std::move(out)) {}
  void on(troupe::member_up e) { out_.tell("up " + line(e.member)); }
  void on(troupe::member_down e) { out_.tell("down " + line(e.member)); }
  void on(troupe::member_left e) { out_.tell("left " + line(e.member)); }
  static std::string line(const troupe::member& m) { return m.name + " " + std::to_string(m.epoch); }
  out_ref out_;
};

/// Waits until `pred` holds (true) or `within` passed (false).
template <class P>
bool eventually(P&& pred, std::chrono::milliseconds within = 10s) {
  return troupe::test::wait_until(std::forward<P>(pred), within);
}

/// The next event line, or "none" after `within`.
inline std::string next_event(troupe::inbox<std::string>& in, std::chrono::milliseconds within = 20s) {
  auto e = in.receive(within);
  return e ? *e : std::string("none");
}

/// Identities active now in this process, and whether one was ever active
/// twice at once (the activations record themselves).
struct activation_log {
  std::mutex mx;
  std::map<std::string, int> live;
  bool twice = false;
  void up(const std::string& id) {
    std::lock_guard lock(mx);
    if (++live[id] > 1) twice = true;
  }
  void down(const std::string& id) {
    std::lock_guard lock(mx);
    if (--live[id] == 0) live.erase(id);
  }
  static activation_log& get() {
    static activation_log log;
    return log;
  }
};

/// Across processes: when TROUPE_ACTIVATION_LOG names a file, every
/// activation appends "up|down IDENTITY MEMBER NANOSECONDS" to it (one
/// write each, O_APPEND; CLOCK_MONOTONIC, which all processes share).
struct activation_file {
  static std::string& member() {
    static std::string m;
    return m;
  }
  static void note(const char* what, const std::string& id) {
    static const char* path = std::getenv("TROUPE_ACTIVATION_LOG");
    if (path == nullptr) return;
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const std::string line = std::string(what) + " " + id + " " + member() + " " +
                             std::to_string(static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec) + "\n";
    const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd < 0) return;
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
  }
};

/// The virtual actor of the tests: counts the pings it got (its state
/// starts again at 0 when activated anew).
struct session : troupe::actor<session> {
  using remote_interface = troupe::accepts<troupe_test::Ping, troupe_test::Count>;
  explicit session(std::string id) : id_(std::move(id)) {
    activation_log::get().up(id_);
    activation_file::note("up", id_);
  }
  void on_stop() {
    activation_log::get().down(id_);
    activation_file::note("down", id_);
  }
  void on(const troupe_test::Ping& p) {
    ++n_;
    if (p.seq() != last_ + 1) in_order_ = false;
    last_ = p.seq();
  }
  troupe_test::Counted on(const troupe_test::Count&) {
    troupe_test::Counted c;
    c.set_n(n_);
    c.set_last_seq(last_);
    c.set_in_order(in_order_);
    return c;
  }
  std::string id_;
  std::int64_t n_ = 0;
  std::int64_t last_ = 0;
  bool in_order_ = true;
};

/// A member in this process; its events go to `events`.
struct member_node {
  member_node(const std::string& name, std::vector<std::string> etcd, std::chrono::milliseconds ttl = 3s)
      : sys(troupe::system_config{.threads = 2}), n(sys, node_opts(name)), events(sys) {
    c = std::make_unique<troupe::cluster>(sys, n, cluster_opts(std::move(etcd), ttl));
    c->subscribe(sys.spawn<member_events>(events.ref()));
  }
  troupe::actor_system sys;
  troupe::node n;
  troupe::inbox<std::string> events;
  std::unique_ptr<troupe::cluster> c;
  ~member_node() { c.reset(); }
};

#ifdef TROUPE_TEST_MEMBER
/// A member in a child process (troupe-test-member, hosting "session"):
/// started, joined, killed with -9 or ended cleanly.
class member_process {
 public:
  member_process(const std::string& name, const std::string& etcd, std::chrono::milliseconds ttl)
      : p_(TROUPE_TEST_MEMBER, {etcd, name, std::to_string(ttl.count())}) {}
  /// Waits for the child's "joined" line (true), or `within` (false).
  bool wait_joined(std::chrono::milliseconds within) { return p_.wait_line("joined", within); }
  void kill() { p_.kill(); }

 private:
  troupe::test::child_process p_;
};
#endif

} // namespace cluster_test
