#pragma once
// Helpers shared by troupe-bench's workloads.

#include <troupe/troupe.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace bench {

using u64 = std::uint64_t;
using steady = std::chrono::steady_clock;
inline constexpr auto stall_limit = std::chrono::seconds(120);

[[noreturn]] inline void usage_error(const std::string& msg) {
  std::fprintf(stderr,
               "troupe-bench: %s\n"
               "usage: troupe-bench pingpong|fanin|spawn|ring|idle|ask|coro-ask|remote-pingpong|remote-flood|uds-pingpong|pipe-pingpong|\n"
               "                    shm-pingpong|shm-flood|remote-flood-cuts|worker-spawn|overload|tls-connect|serve|\n"
               "                    cluster-join|cluster-activate|cluster-call|cluster-failover (each starts its own etcd)\n"
               "                    [--n N] [--k K] [--threads T] [--capacity C] [--connect HOST:PORT]\n"
               "                    [--delivery reliable|at-most-once] [--cut-ms M] (remote-flood-cuts)\n"
               "                    [--tls] (remote-pingpong, remote-flood, remote-flood-cuts: TLS 1.3)\n"
               "                    [--consumer-ns D] [--spill-dir DIR] (overload)\n"
               "                    [--no-metrics | --actor-metrics] (metrics off; or per-actor metrics on the measured actors)\n"
               "       troupe-bench serve [--port P | --unix PATH | --shm PATH | --fds R,W] [--threads T] [--tls-dir DIR]\n"
               "                    [--metrics-port P] (serve /metrics there, on loopback)\n"
               "       troupe-bench cluster-member --etcd HOST:PORT --name NAME --n MEMBERS (run by the cluster workloads)\n",
               msg.c_str());
  std::exit(2);
}

/// --no-metrics, --actor-metrics: what every actor system of the run counts.
enum class metrics_mode { on, off, actors };
inline metrics_mode run_metrics = metrics_mode::on;

/// The run's metrics mode applied to `c`; `actors` meters the actor types
/// the workloads measure (by name, as system_config::actor_metrics takes them).
inline troupe::system_config with_metrics(troupe::system_config c) {
  if (run_metrics == metrics_mode::off) c.metrics = false;
  if (run_metrics == metrics_mode::actors) {
    c.actor_metrics = {"pinger", "ponger", "counter", "sender", "flood_sink", "flooder", "answerer",
                       "continuation_asker", "coroutine_asker", "ring_node"};
  }
  return c;
}

/// The mode as a JSON field (empty when on, the default).
inline const char* metrics_json() {
  return run_metrics == metrics_mode::off ? ",\"metrics\":\"off\"" : run_metrics == metrics_mode::actors ? ",\"metrics\":\"actors\"" : "";
}

/// The flag that gives a child process (serve) this run's mode, or nullptr.
inline const char* metrics_flag() {
  return run_metrics == metrics_mode::off ? "--no-metrics" : run_metrics == metrics_mode::actors ? "--actor-metrics" : nullptr;
}

[[noreturn]] inline void fail(const std::string& msg) {
  std::fprintf(stderr, "troupe-bench: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(1);  // the system may be stuck: skip its destructor
}

inline u64 current_rss() {
  unsigned long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<u64>(resident) * static_cast<u64>(sysconf(_SC_PAGESIZE));
}

inline double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

/// What a workload's last actor tells the timing thread: it is over (and a
/// value the run checks).
struct done {
  u64 value;
};
using report_ref = troupe::actor_ref<troupe::inbox<done>::actor_type>;

struct outcome {
  u64 units;
  double seconds;
  std::string extra;  // extra JSON fields, each starting with a comma
};

/// Waits for one message on an inbox or fails the run.
template <class M>
M await(troupe::inbox<M>& in, const char* what) {
  auto m = in.receive(stall_limit);
  if (!m) fail(std::string(what) + ": no progress for 120 s");
  return std::move(*m);
}

} // namespace bench
