#pragma once
// troupe-bench's cluster workloads: each starts its own etcd (Debian's
// etcd-server, on loopback, in a temporary directory) and its members as
// child processes (`troupe-bench cluster-member`), as the remote workloads
// start their serve process.
#include <string>

#include "bench_common.hpp"

namespace bench {

struct cluster_bench_options {
  u64 n = 0;
  u64 threads = 2;
  std::string self;  // this program, run again as a member
};

/// cluster-join: n member processes start at once; `seconds` is the time
/// from the first one's start until every one lists all n.
outcome run_cluster_join(const cluster_bench_options& o);
/// cluster-activate: n first messages (asks) to new virtual actors hosted
/// by another member; one activation's round trip per op. Also reports the
/// etcd requests one activation made (from etcd's own metrics).
outcome run_cluster_activate(const cluster_bench_options& o);
/// cluster-call: n round trips (remote-pingpong's ball) to an active
/// virtual actor on another member, and the same to a plain published
/// actor on that member in the same run (remote_pingpong_ns_per_op, ratio).
outcome run_cluster_call(const cluster_bench_options& o);
/// cluster-failover: kill -9 of the member hosting an identity, to the
/// first answer from the identity's new home (members' TTL 3 s).
outcome run_cluster_failover(const cluster_bench_options& o);

/// The member process: `cluster-member ETCD NAME EXPECT`: joins cluster
/// "bench", hosts kind "vball", publishes "ponger"; prints "joined", then
/// "all" once it lists EXPECT members; leaves when its stdin closes.
[[noreturn]] void run_cluster_member(const std::string& etcd, const std::string& name, u64 expect, u64 threads);

} // namespace bench
