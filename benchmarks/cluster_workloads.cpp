#include "cluster_workloads.hpp"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "ball.hpp"
#include "bench.pb.h"
#include "support/child_process.hpp"
#include "support/etcd_server.hpp"
#include "troupe/cluster/cluster.hpp"

namespace bench {

namespace {

using troupe_bench::Ball;
using namespace std::chrono_literals;

constexpr auto member_ttl = 3s;

troupe::node* member_node = nullptr;  // the member process's node, for vball

/// The virtual actor of the workloads, and the plain actor beside it: each
/// sends the ball back (a tell) and answers asks with it stamped with this
/// member's name (cluster-failover reads where the identity lives).
Ball bounce(ball_return& back, Ball b) {
  back.send_back(b);
  b.set_node(member_node != nullptr ? member_node->name() : "");
  return b;
}
struct vball : troupe::actor<vball> {
  using remote_interface = troupe::accepts<Ball>;
  explicit vball(const std::string&) {}
  Ball on(Ball b) { return bounce(back_, std::move(b)); }
  ball_return back_{member_node};
};
struct pball : troupe::actor<pball> {
  using remote_interface = troupe::accepts<Ball>;
  Ball on(Ball b) { return bounce(back_, std::move(b)); }
  ball_return back_{member_node};
};

troupe::node_options member_options(const std::string& name) {
  troupe::node_options o;
  o.name = name;
  o.cookie = "troupe-bench-cluster";
  return o;
}

troupe::cluster_options cluster_opts(const std::string& etcd) {
  troupe::cluster_options c;
  c.etcd = {etcd};
  c.name = "bench";
  c.ttl = member_ttl;
  return c;
}

/// This process as a member that hosts nothing, with `children` members
/// hosting vball (named m1, m2, ...).
struct scene {
  scene(const cluster_bench_options& o, int children)
      : sys(troupe::system_config{.threads = o.threads}),
        n(sys, member_options("bench-main")),
        c(sys, n, cluster_opts(etcd.endpoint())) {
    for (int i = 1; i <= children; ++i) {
      kids.push_back(std::make_unique<troupe::test::child_process>(
          o.self, std::vector<std::string>{"cluster-member", "--etcd", etcd.endpoint(), "--name", "m" + std::to_string(i),
                                           "--n", std::to_string(children + 1), "--threads", std::to_string(o.threads)}));
    }
    for (auto& k : kids) {
      if (!k->wait_line("all", 60s)) fail("a cluster member did not see the others within 60 s");
    }
    if (!c.wait_joined(30s)) fail("the bench's member did not join within 30 s");
    // Every child lists vball: their records were written before they said "all".
    for (auto until = steady::now() + 30s; hosting() < children;) {
      if (steady::now() > until) fail("the members' kinds did not show within 30 s");
      std::this_thread::sleep_for(5ms);  // polling etcd's view, bounded
    }
  }
  ~scene() {
    // Members end cleanly (a killed one was waited for already): no link
    // is cut under a message in flight.
    c.leave();
    for (auto& k : kids) k->finish();
  }
  int hosting() {
    int k = 0;
    for (const auto& m : c.members()) k += static_cast<int>(std::count(m.kinds.begin(), m.kinds.end(), "vball"));
    return k;
  }
  troupe::test::etcd_server etcd;
  troupe::actor_system sys;
  troupe::node n;
  troupe::cluster c;
  std::vector<std::unique_ptr<troupe::test::child_process>> kids;
};

/// Asks `v` a ball; fails the run when it cannot.
template <class Ref>
Ball ask_ball(const Ref& v, const char* what) {
  auto r = v.ask(Ball{}, 30s).get();
  if (!r) fail(std::string(what) + ": " + std::string(r.message()));
  return *r;
}

/// Plays n balls with `target` (a virtual_ref or an actor_ref), each sent
/// by tell and returned by tell, as remote-pingpong does.
template <class Ref>
struct driver : troupe::actor<driver<Ref>> {
  using remote_interface = troupe::accepts<Ball>;
  driver(Ref target, troupe::actor_ref<troupe::inbox<int>::actor_type> done, u64 n, std::string node)
      : target_(std::move(target)), done_(std::move(done)), n_(static_cast<std::int64_t>(n)), node_(std::move(node)) {}
  void on(int) { serve(0); }
  void on(Ball b) {
    if (b.seq() + 1 == n_) return (void)done_.tell(0);
    serve(b.seq() + 1);
  }
  void serve(std::int64_t seq) {
    Ball b;
    b.set_seq(seq);
    b.set_node(node_);
    b.set_from(this->self().id());
    target_.tell(std::move(b));
  }
  Ref target_;
  troupe::actor_ref<troupe::inbox<int>::actor_type> done_;
  std::int64_t n_;
  std::string node_;
};

template <class Ref>
double play(scene& s, const Ref& target, u64 n) {
  troupe::inbox<int> in(s.sys);
  auto d = s.sys.spawn<driver<Ref>>(target, in.ref(), n, s.n.name());
  s.n.expose(d);
  const auto t0 = steady::now();
  d.tell(0);
  await(in, "cluster ball game");
  const double secs = seconds_since(t0);
  d.stop();
  return secs;
}

/// etcd's count of unary requests served so far (its /metrics).
double etcd_unary_requests(std::uint16_t port) {
  const std::string m = troupe::test::http_get(port, "/metrics");
  double total = 0;
  std::size_t at = 0;
  const std::string family = "grpc_server_handled_total{";
  while ((at = m.find(family, at)) != std::string::npos) {
    const auto eol = m.find('\n', at);
    const std::string line = m.substr(at, eol - at);
    at = eol;
    if (line.find("grpc_type=\"unary\"") == std::string::npos) continue;
    total += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return total;
}

} // namespace

void run_cluster_member(const std::string& etcd, const std::string& name, u64 expect, u64 threads) {
  {
    troupe::actor_system sys(troupe::system_config{.threads = threads});
    troupe::node n(sys, member_options(name));
    member_node = &n;
    troupe::cluster c(sys, n, cluster_opts(etcd));
    c.kind<vball>("vball");
    n.publish("ponger", sys.spawn<pball>());
    if (!c.wait_joined(60s)) std::exit(1);
    std::printf("joined\n");
    std::fflush(stdout);
    while (c.members().size() < expect) std::this_thread::sleep_for(1ms);  // the join workload's clock
    std::printf("all\n");
    std::fflush(stdout);
    char b;
    while (::read(0, &b, 1) > 0) {
    }
    member_node = nullptr;
  }
  std::exit(0);
}

outcome run_cluster_join(const cluster_bench_options& o) {
  troupe::test::etcd_server etcd;
  std::vector<std::unique_ptr<troupe::test::child_process>> kids;
  const auto t0 = steady::now();
  for (u64 i = 1; i <= o.n; ++i) {
    kids.push_back(std::make_unique<troupe::test::child_process>(
        o.self, std::vector<std::string>{"cluster-member", "--etcd", etcd.endpoint(), "--name", "m" + std::to_string(i),
                                         "--n", std::to_string(o.n), "--threads", "1"}));
  }
  for (auto& k : kids) {
    if (!k->wait_line("all", 60s)) fail("cluster-join: a member did not list all within 60 s");
  }
  const double secs = seconds_since(t0);
  for (auto& k : kids) k->finish();
  return {o.n, secs, ",\"members\":" + std::to_string(o.n)};
}

outcome run_cluster_activate(const cluster_bench_options& o) {
  scene s(o, 1);
  (void)ask_ball(s.c.get<vball>("vball", "warm"), "cluster-activate warm-up");
  const double before = etcd_unary_requests(s.etcd.port());
  const auto t0 = steady::now();
  for (u64 i = 0; i < o.n; ++i) (void)ask_ball(s.c.get<vball>("vball", "a-" + std::to_string(i)), "cluster-activate");
  const double secs = seconds_since(t0);
  const double per = (etcd_unary_requests(s.etcd.port()) - before) / static_cast<double>(o.n);
  char extra[96];
  std::snprintf(extra, sizeof extra, ",\"etcd_requests_per_activation\":%.2f", per);
  return {o.n, secs, extra};
}

outcome run_cluster_call(const cluster_bench_options& o) {
  scene s(o, 1);
  auto v = s.c.get<vball>("vball", "call-1");
  // The members link up on their own (the one whose name sorts first dials).
  auto peer = s.n.find_peer("m1");
  for (auto until = steady::now() + 30s; !peer; peer = s.n.find_peer("m1")) {
    if (steady::now() > until) fail("cluster-call: no link to the member within 30 s");
    std::this_thread::sleep_for(1ms);
  }
  auto plain = peer->lookup<pball>("ponger", 30s);
  if (!plain) fail("cluster-call: " + std::string(plain.message()));
  for (int i = 0; i < 100; ++i) {  // warm both paths: the activation, the links, the proxies
    (void)ask_ball(v, "cluster-call warm-up");
    (void)ask_ball(*plain, "cluster-call warm-up");
  }
  const double virt = play(s, v, o.n);
  const double direct = play(s, *plain, o.n);
  const double virt_ns = virt * 1e9 / static_cast<double>(o.n);
  const double direct_ns = direct * 1e9 / static_cast<double>(o.n);
  char extra[128];
  std::snprintf(extra, sizeof extra, ",\"remote_pingpong_ns_per_op\":%.1f,\"ratio\":%.3f", direct_ns, virt_ns / direct_ns);
  return {o.n, virt, extra};
}

outcome run_cluster_failover(const cluster_bench_options& o) {
  scene s(o, 2);
  auto v = s.c.get<vball>("vball", "failover-1");
  const std::string home = ask_ball(v, "cluster-failover").node();
  const int victim = home == "m1" ? 0 : 1;
  const auto t0 = steady::now();
  s.kids[static_cast<std::size_t>(victim)]->kill();
  for (;;) {
    auto r = v.ask(Ball{}, 1s).get();
    if (r.ok() && r->node() != home) break;
    if (seconds_since(t0) > 60) fail("cluster-failover: no answer from a new home within 60 s");
  }
  const double secs = seconds_since(t0);
  return {1, secs, ",\"ttl_ms\":" + std::to_string(std::chrono::milliseconds(member_ttl).count())};
}

} // namespace bench
