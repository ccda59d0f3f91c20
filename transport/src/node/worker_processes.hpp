#pragma once
// Private to the transport: the worker processes a node starts (fork and
// exec of a program that runs run_worker_if_asked, see worker_launch.hpp),
// and collecting how they ended. Forks happen on the node's I/O thread:
// PR_SET_PDEATHSIG follows the forking thread, which lives exactly as long
// as the node. Its own lock; any thread.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "troupe/actors/send_result.hpp"
#include "troupe/transport/node.hpp"
#include "troupe/transport/worker.hpp"

namespace troupe::transport {

class node_impl;
class byte_stream;
struct link_ends;

class worker_processes {
 public:
  explicit worker_processes(node_impl& node) noexcept : node_(node) {}

  /// Starts a worker and connects to it: the peer and the process id.
  result<std::pair<peer, int>> start(const worker_options& o);
  /// The same without blocking: `done` runs once, on the I/O thread (or
  /// this one when it fails at once). @throws std::invalid_argument for a
  /// negative start_timeout.
  void start_then(const worker_options& o, std::function<void(result<std::pair<peer, int>>)> done);
  /// A worker's connection ended: how its process ended (waits up to
  /// 100 ms for it to be reaped), or that it is unreachable, saying `reason`.
  std::string exit_of(int pid, const std::string& reason);
  /// Reaps every worker, killing those still running after `grace`.
  void reap_all(std::chrono::milliseconds grace);

 private:
  /// Reaps workers that ended without anybody asking.
  void reap_ended();
  /// The parent's end of a worker's link, as a stream.
  std::unique_ptr<byte_stream> parent_stream(worker_link link, const link_ends& l, int pid);
  /// The worker's node name: its options', or "<parent>-worker-<n>".
  std::string name_of(const worker_options& o);
  /// A worker's connection, or (killing the worker) why there is none.
  result<std::pair<peer, int>> started(const result<peer>& link, int pid, const std::string& name);
  node_impl& node_;
  std::mutex mx_;
  std::vector<int> pids_;  // started and not yet reaped
};

} // namespace troupe::transport
