#include "troupe/transport/worker.hpp"

#include <fcntl.h>

#include <cstdlib>
#include <cstring>

#include "session.hpp"

namespace troupe {

std::optional<int> run_worker_if_asked(int argc, char** argv, const worker_init& init) {
  if (argc < 5 || std::strcmp(argv[1], "--troupe-worker") != 0) return std::nullopt;
  // The parent's link: descriptor 3 (the socketpair, the control socket of
  // shared memory, or the pipe to read), then 4 (the segment, or the pipe
  // to write).
  const bool shm = std::strcmp(argv[2], "shm") == 0;
  const bool pipes = std::strcmp(argv[2], "pipes") == 0;
  for (int fd = 3; fd <= (shm || pipes ? 4 : 3); ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // not for the worker's own children
  std::vector<std::string> args;
  for (int i = 5; i < argc; ++i) args.emplace_back(argv[i]);
  node_options o;
  o.name = argv[3];
  o.listen = false;
  o.reconnect = false;
  actor_system sys;
  node n(sys, o);
  init(sys, n, args);
  auto parent = shm ? n.adopt_shm_worker_link(3, std::chrono::seconds(30))
                    : n.adopt(3, pipes ? 4 : 3, /*initiator=*/false, std::chrono::seconds(30));
  if (!parent.ok()) {
    transport::log().error("troupe worker {}: cannot reach its parent: {}", o.name, parent.message());
    return 3;
  }
  parent.value().wait_down();  // the parent closed the link, or died
  return 0;
}

} // namespace troupe
