#pragma once
// troupe-bench's overload workload: a fast sender, a slow consumer, and a
// spill mailbox between them.

#include <string>

#include "bench_common.hpp"

namespace bench {

struct overload_options {
  u64 n = 0;
  u64 threads = 0;
  u64 capacity = 0;      ///< messages the mailbox holds in memory
  u64 consumer_ns = 0;   ///< time the consumer spends on each message
  std::string spill_dir; ///< where the spill files go (a fresh subdirectory of it)
  /// "none", "spill" (durable), "wal" (write-ahead, sync none), "wal-batch"
  /// (sync per_batch), "wal-interval" (sync every 100 ms).
  std::string durable = "none";
};

/// N Items (an int64 and a 16-byte string) sent as fast as the sender can
/// to an actor that spends D ns on each, through a spill mailbox holding C
/// in memory. Extra fields: durable, delivered, in_order, max_rss_bytes,
/// max_disk_bytes, spilled, syncs, spill_dir_empty.
outcome run_overload(const overload_options& o);

} // namespace bench
