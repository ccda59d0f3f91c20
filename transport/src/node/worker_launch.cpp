#include "node/worker_launch.hpp"

namespace troupe::transport::worker_launch {

std::string_view name_of(worker_link l) noexcept {
  switch (l) {
    case worker_link::shared_memory: return "shm";
    case worker_link::socketpair: return "socket";
    case worker_link::pipes: return "pipes";
  }
  return "socket";
}

int fds_of(worker_link l) noexcept { return l == worker_link::socketpair ? 1 : 2; }

std::vector<std::string> command(const std::string& exe, worker_link link, const std::string& name,
                                 const std::vector<std::string>& args) {
  std::vector<std::string> out{exe, std::string(flag), std::string(name_of(link)), name, "--"};
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

std::optional<request> parse(int argc, char** argv) {
  if (argc < 5 || argv[1] != flag || std::string_view(argv[4]) != "--") return std::nullopt;
  request r;
  const std::string_view link = argv[2];
  if (link == name_of(worker_link::shared_memory)) {
    r.link = worker_link::shared_memory;
  } else if (link == name_of(worker_link::pipes)) {
    r.link = worker_link::pipes;
  } else if (link == name_of(worker_link::socketpair)) {
    r.link = worker_link::socketpair;
  } else {
    return std::nullopt;
  }
  r.name = argv[3];
  for (int i = 5; i < argc; ++i) r.args.emplace_back(argv[i]);
  return r;
}

} // namespace troupe::transport::worker_launch
