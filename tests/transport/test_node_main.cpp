// A child node for the multi-process tests: publishes an `echo` actor as
// "echo" and a `slow_sink` (50 us per message) as "slow", prints "PORT <n>" on stdout, and runs until stdin closes (the test
// ended) or it is killed.
//   troupe-test-node --name NAME [--port P] [--heartbeat-ms H]
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "test_actors.hpp"

int main(int argc, char** argv) {
  // This program is also its own worker (for the orphan test).
  if (auto rc = troupe::run_worker_if_asked(argc, argv, [](troupe::actor_system& sys, troupe::node& n, const auto&) {
        n.publish("root", sys.spawn<troupe_test::echo>());
      })) {
    return *rc;
  }
  bool spawn_worker = false;
  troupe::node_options opts;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--name") {
      opts.name = value;
    } else if (flag == "--port") {
      opts.listen_port = static_cast<std::uint16_t>(std::stoi(value));
    } else if (flag == "--spawn-worker") {
      spawn_worker = value == "1";
    } else if (flag == "--heartbeat-ms") {
      opts.heartbeat_interval = std::chrono::milliseconds(std::stoi(value));
      opts.heartbeat_timeout = opts.heartbeat_interval * 6;
    } else {
      std::fprintf(stderr, "troupe-test-node: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  troupe::actor_system sys;
  troupe::node node(sys, opts);
  node.publish("echo", sys.spawn<troupe_test::echo>());
  node.publish("slow", sys.spawn<troupe_test::slow_sink>(std::chrono::microseconds(50)));
  std::printf("PORT %u\n", static_cast<unsigned>(node.port()));
  std::fflush(stdout);
  std::optional<troupe::worker<troupe_test::echo>> worker;
  if (spawn_worker) {
    auto w = troupe::spawn_worker<troupe_test::echo>(node);
    if (!w.ok()) {
      std::fprintf(stderr, "troupe-test-node: %s\n", std::string(w.message()).c_str());
      return 1;
    }
    worker = w.value();
    std::printf("WORKER %d\n", worker->pid);
    std::fflush(stdout);
  }
  char buf[64];
  while (::read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}
