// troupe-demo, part 2: two nodes in two processes on 127.0.0.1.
#include "network.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <troupe/troupe.hpp>

#include "demo.pb.h"

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

double since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "demo: %s\n", why.c_str());
  std::exit(1);
}

/// On node B: answers every ball.
struct echo : troupe::actor<echo> {
  using remote_interface = troupe::accepts<demo::Ball>;
  demo::Ball on(demo::Ball b) { return b; }
};

/// On node B: counts items, answers CountTo once it has counted that many.
struct counter : troupe::actor<counter> {
  using remote_interface = troupe::accepts<demo::CountTo, demo::Item>;
  troupe::promise<demo::Counted> on(demo::CountTo c) {
    want_ = c.n();
    answer_ = troupe::make_promise<demo::Counted>();
    check();
    return {};
  }
  void on(demo::Item i) {
    in_order_ = in_order_ && i.value() == count_;
    ++count_;
    sum_ += i.value();
    check();
  }
  void check() {
    if (count_ < want_ || !answer_.pending()) return;
    demo::Counted c;
    c.set_count(count_);
    c.set_sum(sum_);
    c.set_in_order(in_order_);
    answer_.deliver(std::move(c));
  }
  std::int64_t want_ = -1, count_ = 0, sum_ = 0;
  bool in_order_ = true;
  troupe::promise<demo::Counted> answer_;
};

/// On node A: sends N items as fast as the connection takes them.
struct flooder : troupe::actor<flooder> {
  struct go {};
  flooder(troupe::actor_ref<counter> to, std::int64_t n) : to_(std::move(to)), n_(n) {}
  void on(go) {
    while (next_ < n_) {
      demo::Item it;
      it.set_value(next_++);
      it.set_tag("sixteen bytes...");
      if (to_.tell(std::move(it)) == troupe::send_result::muted) break;  // the queue to B is full: pause
    }
    if (next_ < n_) defer(go{});
  }
  troupe::actor_ref<counter> to_;
  std::int64_t n_, next_ = 0;
};

/// On node A: reports the `down` of what it watches.
struct watcher : troupe::actor<watcher> {
  using report = troupe::actor_ref<troupe::inbox<troupe::down>::actor_type>;
  explicit watcher(report r) : report_(std::move(r)) {}
  bool on(troupe::any_ref who) {
    monitor(who);
    return true;
  }
  void on(troupe::down d) { report_.tell(std::move(d)); }
  report report_;
};

troupe::node_options options(const char* name, bool listen) {
  troupe::node_options o;
  o.name = name;
  o.listen = listen;
  o.reconnect = false;
  return o;
}

} // namespace

int node_b_main() {
  troupe::actor_system sys;
  troupe::node node(sys, options("node-b", true));
  node.publish("echo", sys.spawn<echo>());
  node.publish("counter", sys.spawn<counter>());
  std::printf("PORT %u\n", static_cast<unsigned>(node.port()));
  std::fflush(stdout);
  sys.await_shutdown();
  return 0;
}

int network_demo(const char* self) {
  setenv("TROUPE_COOKIE", ("troupe-demo-cookie-" + std::to_string(getpid())).c_str(), 0);
  std::printf("7. Two nodes: this process (node-a) starts node-b as a second process on 127.0.0.1.\n"
              "   Both prove they hold the same secret (HMAC challenge-response; the cookie never crosses\n"
              "   the wire), then node-a looks up node-b's published actors and talks to them.\n");
  int out[2];
  if (pipe(out) != 0) die("pipe failed");
  const pid_t b = fork();
  if (b == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    execl(self, self, "--node-b", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  char line[64] = {};
  if (f == nullptr || std::fgets(line, sizeof line, f) == nullptr) die("node-b did not start");
  const auto port = static_cast<std::uint16_t>(std::atoi(line + 5));

  int rc = 0;
  {
    troupe::actor_system sys;
    troupe::node a(sys, options("node-a", false));
    auto peer = a.connect("127.0.0.1", port, 10s);
    if (!peer.ok()) die("connect: " + std::string(peer.message()));
    std::printf("   connected to %s (process %d, incarnation %016llx).\n", peer.value().name().c_str(), static_cast<int>(b),
                static_cast<unsigned long long>(peer.value().incarnation()));
    auto e = peer.value().lookup<echo>("echo", 10s);
    auto c = peer.value().lookup<counter>("counter", 10s);
    if (!e.ok() || !c.ok()) die("lookup failed");

    constexpr int rounds = 2000;
    auto t0 = clk::now();
    for (int i = 0; i < rounds; ++i) {
      demo::Ball ball;
      ball.set_n(i);
      auto r = e.value().ask(ball, 5s).get();
      if (!r.ok() || r.value().n() != i) die("ping-pong: wrong or no answer");
    }
    double s = since(t0);
    std::printf("   ping-pong: %d round trips to node-b and back, %.0f us each (the same ask as in-process).\n",
                rounds, s * 1e6 / rounds);

    constexpr std::int64_t n = 1'000'000;
    demo::CountTo want;
    want.set_n(n);
    auto done = c.value().ask(want, 60s);
    t0 = clk::now();
    sys.spawn<flooder>(c.value(), n).tell(flooder::go{});
    auto counted = done.get();
    s = since(t0);
    if (!counted.ok() || counted.value().count() != n || counted.value().sum() != n * (n - 1) / 2 ||
        !counted.value().in_order()) {
      die("flood: node-b did not get every message exactly once, in order");
    }
    const auto st = a.stats();
    std::printf("   flood: %lld messages (an int64 and a 16-byte string each) in %.2f s = %.1f million/s;\n"
                "   node-b counted every one, in order. %llu writes carried them (%.0f messages per syscall).\n",
                static_cast<long long>(n), s, n / s / 1e6, static_cast<unsigned long long>(st.writes),
                static_cast<double>(st.messages_out) / static_cast<double>(st.writes));

    troupe::inbox<troupe::down> downs(sys);
    auto w = sys.spawn<watcher>(downs.ref());
    if (!w.ask(troupe::any_ref(e.value()), 5s).get().ok()) die("monitor failed");
    std::printf("   an actor on node-a monitors node-b's echo actor. Now: kill -9 %d (node-b)...\n", static_cast<int>(b));
    t0 = clk::now();
    kill(b, SIGKILL);
    auto d = downs.receive(10s);
    if (!d) die("node-b's death went unnoticed");
    std::printf("   node-a noticed in %.1f ms: down(reason %s). (A peer that goes silent without closing its\n"
                "   socket is first only interrupted, after 2 s of missed heartbeats, while messages wait to be\n"
                "   resent; it is declared down if it is not back 5 s later.) Sends to it are now dead letters:\n"
                "   tell said '%s'.\n\n",
                since(t0) * 1e3, std::string(troupe::to_string(d->reason)).c_str(),
                std::string(troupe::to_string(e.value().tell(demo::Ball{}))).c_str());
    rc = d->reason == troupe::exit_reason::node_down ? 0 : 1;
  }
  waitpid(b, nullptr, 0);
  return rc;
}
