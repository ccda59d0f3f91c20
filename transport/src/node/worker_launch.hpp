#pragma once
// Private to the transport: how a worker process is launched, written once
// for both sides. The parent (worker_processes) builds the command line and
// puts the link's descriptors at these numbers; the child
// (run_worker_if_asked) reads them back.
//
//   argv: <exe> --troupe-worker <link> <name> -- <args...>
//   descriptor 3: the socketpair end, the shared-memory control socket, or the pipe the child reads
//   descriptor 4: the shared-memory segment, or the pipe the child writes (socketpair: none)
//   environment: TROUPE_COOKIE, the parent's cookie (the child proves it)

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/transport/worker.hpp"

namespace troupe::transport::worker_launch {

inline constexpr std::string_view flag = "--troupe-worker";
inline constexpr std::string_view cookie_variable = "TROUPE_COOKIE";
/// Where the link's descriptors are in the child.
inline constexpr int link_fd = 3;
inline constexpr int second_fd = 4;

/// The link's name on the command line.
[[nodiscard]] std::string_view name_of(worker_link l) noexcept;
/// How many descriptors the link takes in the child (from link_fd on).
[[nodiscard]] int fds_of(worker_link l) noexcept;

/// The command line of a worker called `name`.
[[nodiscard]] std::vector<std::string> command(const std::string& exe, worker_link link, const std::string& name,
                                               const std::vector<std::string>& args);

/// What a worker's command line says.
struct request {
  worker_link link;
  std::string name;
  std::vector<std::string> args;
};
/// The request, or nullopt when this process was not launched as a worker.
[[nodiscard]] std::optional<request> parse(int argc, char** argv);

} // namespace troupe::transport::worker_launch
