#pragma once
// troupe-bench's network workloads: remote-pingpong, remote-flood, serve.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace bench {

struct remote_options {
  u64 n = 0;
  u64 threads = 0;
  std::string connect;  // HOST:PORT of a `serve` node; empty: start one
  std::string self;     // this program, to start the serve process
  bool at_most_once = false;  // --delivery at-most-once: both nodes without resend buffers
  std::chrono::milliseconds cut_every{0};  // remote-flood-cuts: through a proxy that cuts the link this often
  std::string tls_dir;  // --tls: certificates made by make_bench_certs (empty: plaintext)
};

/// How the two processes are connected.
enum class link { tcp, unix_socket, pipes, shm };

/// Where `serve` waits: a TCP port, a Unix socket path (plain, or for
/// shared memory), or two inherited pipe descriptors.
struct serve_options {
  std::uint16_t port = 0;
  std::string unix_path;
  std::string shm_path;  ///< listen_shm
  int read_fd = -1;
  int write_fd = -1;
  bool at_most_once = false;
  std::string tls_dir;  ///< --tls-dir: TLS with the certificates there (see make_bench_certs)
  int metrics_port = -1;  ///< --metrics-port: serve /metrics there (0: any free port), -1: off
};

/// A CA and certificates for the bench's nodes (bench-client,
/// bench-client-full, bench-serve in cluster "bench"), made by
/// scripts/troupe-certs in a new temporary directory: its path.
std::string make_bench_certs();
/// TLS 1.3 full handshakes and resumed ones to a serve process: connect
/// N times each (closing in between); the unit is a full connect, and the
/// resumed connects' time is an extra field.
outcome run_tls_connect(const remote_options& o);

/// One Ball to a ponger in the other process and back, N times, one in flight.
outcome run_remote_pingpong(const remote_options& o, link how);
/// N Items (an int64 and a 16-byte string) to a counting actor in the other
/// process; ends when it has counted N. With `cut_every` (TCP only), the
/// link goes through a proxy in this process that cuts it that often.
outcome run_remote_flood(const remote_options& o, link how);
/// N buffers of `bytes` to an actor in another process over shared memory,
/// each handed over as a shared_bytes (`transfer`) or copied in a protobuf
/// bytes field; ends when it has them all.
outcome run_shm_chunks(const remote_options& o, std::size_t bytes, bool transfer);
/// Spawns N worker processes one after another; each answers one message
/// and exits.
outcome run_worker_spawn(const remote_options& o);
/// What a worker process of troupe-bench runs (main calls it through
/// troupe::run_worker_if_asked).
void worker_init(troupe::actor_system& sys, troupe::node& n, const std::vector<std::string>& args);
/// The receiving side, until killed. Prints one JSON line with its port.
[[noreturn]] void run_serve(const serve_options& so, u64 threads);

} // namespace bench
