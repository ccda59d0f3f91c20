// The child side of a worker process (see worker_launch.hpp for the layout
// it shares with the parent).
#include "troupe/transport/worker.hpp"

#include <fcntl.h>

#include "node/node_impl.hpp"
#include "node/worker_launch.hpp"

namespace troupe {

std::optional<int> run_worker_if_asked(int argc, char** argv, const worker_init& init) {
  const auto asked = transport::worker_launch::parse(argc, argv);
  if (!asked) return std::nullopt;
  namespace launch = transport::worker_launch;
  for (int fd = launch::link_fd; fd < launch::link_fd + launch::fds_of(asked->link); ++fd) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // not for the worker's own children
  }
  node_options o;
  o.name = asked->name;
  o.listen = false;
  o.reconnect = false;
  actor_system sys;
  node n(sys, o);
  init(sys, n, asked->args);
  auto parent = asked->link == worker_link::shared_memory
                    ? n.adopt_shm_worker_link(launch::link_fd, std::chrono::seconds(30))
                    : n.adopt(launch::link_fd, asked->link == worker_link::pipes ? launch::second_fd : launch::link_fd,
                              /*initiator=*/false, std::chrono::seconds(30));
  if (!parent.ok()) {
    transport::log().error("troupe worker {}: cannot reach its parent: {}", o.name, parent.message());
    return 3;
  }
  parent.value().wait_down();  // the parent closed the link, or died
  return 0;
}

} // namespace troupe
