// remote_ping_pong: ping-pong between two processes. Run without arguments
// it starts its partner itself (this program with "pong"), connects to it
// over TCP on 127.0.0.1, and plays five rounds.
//
//   remote_ping_pong            the ping side (starts the pong side)
//   remote_ping_pong pong       the pong side: prints "PORT <p>", serves
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <troupe/troupe.hpp>

#include "ping_pong.pb.h"

using namespace std::chrono_literals;

/// Lives in the pong process; published as "pong".
struct ponger : troupe::actor<ponger> {
  using remote_interface = troupe::accepts<pp::Ping>;  // what other nodes may send it
  pp::Pong on(pp::Ping p) {
    pp::Pong r;
    r.set_n(p.n());
    return r;
  }
};

int pong_side() {
  troupe::actor_system sys;
  troupe::node node(sys, {.name = "pong"});
  node.publish("pong", sys.spawn<ponger>());
  std::printf("PORT %u\n", static_cast<unsigned>(node.port()));
  std::fflush(stdout);
  sys.await_shutdown();  // until the ping side kills us
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "pong") return pong_side();
  // Both processes prove the same secret; TROUPE_COOKIE (else ~/.troupe/cookie).
  setenv("TROUPE_COOKIE", ("remote-ping-pong-" + std::to_string(getpid())).c_str(), 0);

  int out[2];
  if (pipe(out) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    execl("/proc/self/exe", argv[0], "pong", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  char line[64] = {};
  FILE* f = fdopen(out[0], "r");
  if (f == nullptr || std::fgets(line, sizeof line, f) == nullptr) return 1;
  const auto port = static_cast<std::uint16_t>(std::stoi(std::string(line).substr(5)));

  {
    troupe::actor_system sys;
    troupe::node node(sys, {.name = "ping", .listen = false});
    auto peer = node.connect("127.0.0.1", port, 10s);
    if (!peer.ok()) {
      std::fprintf(stderr, "connect: %s\n", std::string(peer.message()).c_str());
      return 1;
    }
    auto pong = peer.value().lookup<ponger>("pong", 10s);  // an actor_ref<ponger>, like a local one
    if (!pong.ok()) {
      std::fprintf(stderr, "lookup: %s\n", std::string(pong.message()).c_str());
      return 1;
    }
    for (int i = 1; i <= 5; ++i) {
      pp::Ping p;
      p.set_n(i);
      const auto t0 = std::chrono::steady_clock::now();
      auto r = pong.value().ask(p, 5s).get();
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
      if (!r.ok()) return 1;
      std::printf("ping %d -> pong %lld from process %d in %lld us\n", i, static_cast<long long>(r.value().n()),
                  static_cast<int>(child), static_cast<long long>(us.count()));
    }
    std::printf("5 round trips between two processes\n");
  }
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  return 0;
}
