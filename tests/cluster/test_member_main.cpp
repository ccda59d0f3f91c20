// troupe-test-member ETCD NAME TTL_MS: a cluster member in its own process
// for the cluster tests, hosting the kind "session" (cluster_fixture.hpp's
// session actor). Prints "joined" once registered and listed, then
// waits for its stdin to close and leaves gracefully (a test kills it with
// -9 instead to see a death).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cluster_fixture.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: troupe-test-member ETCD NAME TTL_MS\n");
    return 2;
  }
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  troupe::node n(sys, cluster_test::node_opts(argv[2]));
  troupe::cluster c(sys, n, cluster_test::cluster_opts({argv[1]}, std::chrono::milliseconds(std::stol(argv[3]))));
  c.kind<cluster_test::session>("session");
  if (!c.wait_joined(std::chrono::seconds(20))) return 1;
  std::printf("joined\n");
  std::fflush(stdout);
  char b;
  while (::read(0, &b, 1) > 0) {
  }
  return 0;
}
