// troupe-test-member ETCD NAME TTL_MS [LISTEN_HOST]: a cluster member in
// its own process for the cluster tests, hosting the kind "session"
// (cluster_fixture.hpp's session actor; TROUPE_ACTIVATION_LOG records its
// activations). Prints "joined" once registered and listed, then a line
// whenever what it sees changes: "members N", "fenced", "hosting",
// "epoch E". Reads commands on stdin: "send K" tells a Ping to identities
// id-0 .. id-K-1 and asks each its count, then prints "sent K ok" (or
// "sent K failed"); end of input leaves gracefully (a test kills it with
// -9 to see a death).
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "cluster_fixture.hpp"

namespace {

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

bool send(troupe::cluster& c, int k) {
  bool ok = true;
  for (int i = 0; i < k; ++i) {
    auto v = c.get<cluster_test::session>("session", "id-" + std::to_string(i));
    troupe_test::Ping p;
    p.set_seq(1);
    (void)v.tell(p);
    ok = v.ask(troupe_test::Count{}, std::chrono::seconds(10)).get().ok() && ok;
  }
  return ok;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: troupe-test-member ETCD NAME TTL_MS [LISTEN_HOST]\n");
    return 2;
  }
  cluster_test::activation_file::member() = argv[2];
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  auto opts = cluster_test::node_opts(argv[2]);
  if (argc == 5) opts.listen_host = argv[4];
  troupe::node n(sys, opts);
  troupe::cluster c(sys, n, cluster_test::cluster_opts({argv[1]}, std::chrono::milliseconds(std::stol(argv[3]))));
  c.kind<cluster_test::session>("session");
  if (!c.wait_joined(std::chrono::seconds(30))) return 1;
  say("joined");
  std::size_t members = 0;
  bool fenced = false;
  std::uint64_t epoch = c.epoch();
  std::string pending;
  for (;;) {
    if (const auto m = c.members().size(); m != members) say("members " + std::to_string(members = m));
    if (c.fenced() != fenced) say((fenced = c.fenced()) ? "fenced" : "hosting");
    if (c.epoch() != epoch) say("epoch " + std::to_string(epoch = c.epoch()));
    pollfd p{0, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;  // a status tick every 10 ms
    char buf[256];
    const ssize_t got = ::read(0, buf, sizeof buf);
    if (got <= 0) break;  // stdin closed: leave
    pending.append(buf, static_cast<std::size_t>(got));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      std::istringstream cmd(pending.substr(0, nl));
      pending.erase(0, nl + 1);
      std::string verb;
      int k = 0;
      if (cmd >> verb >> k && verb == "send") say("sent " + std::to_string(k) + (send(c, k) ? " ok" : " failed"));
    }
  }
  return 0;
}
