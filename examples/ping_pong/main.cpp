// Two actors play ping-pong; main() waits for the result with an inbox.
#include <troupe/troupe.hpp>

#include <chrono>
#include <cstdio>

struct done {
  int rounds;
};

struct pinger;
struct ponger;

struct ping {
  troupe::actor_ref<pinger> from;
  int n;
};
struct pong {
  int n;
};

struct ponger : troupe::actor<ponger> {
  void on(ping p) { p.from.tell(pong{p.n}); }
};

struct pinger : troupe::actor<pinger> {
  pinger(troupe::actor_ref<ponger> peer, troupe::actor_ref<troupe::inbox<done>::actor_type> report, int rounds)
      : peer_(std::move(peer)), report_(std::move(report)), rounds_(rounds) {}
  void on_start() { peer_.tell(ping{self(), 1}); }
  void on(pong p) {
    if (p.n == rounds_) {
      report_.tell(done{p.n});
      stop();
      return;
    }
    peer_.tell(ping{self(), p.n + 1});
  }
  troupe::actor_ref<ponger> peer_;
  troupe::actor_ref<troupe::inbox<done>::actor_type> report_;
  int rounds_;
};

int main() {
  troupe::actor_system sys;
  troupe::inbox<done> result(sys);
  auto pong_actor = sys.spawn<ponger>();
  const auto t0 = std::chrono::steady_clock::now();
  sys.spawn<pinger>(pong_actor, result.ref(), 100000);
  auto d = result.receive(std::chrono::seconds(30));
  const auto dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!d) {
    std::fprintf(stderr, "ping_pong: no result within 30 s\n");
    return 1;
  }
  std::printf("ping_pong: %d round trips in %.3f s (%.0f ns each)\n", d->rounds, dt, dt * 1e9 / d->rounds);
  return 0;
}
