#pragma once
/// @file A snapshot of one actor's mailbox: `ref.metrics()`. Any thread;
/// the figures are read one after another, not as one atomic picture.

#include <cstdint>

namespace troupe {

/// The disk side of a `spill` mailbox (all zero for other policies).
struct spill_metrics {
  std::uint64_t spilled = 0;         ///< messages written to disk since spawn
  std::uint64_t spilled_bytes = 0;   ///< their payload bytes
  std::uint64_t unspooled = 0;       ///< read back and delivered
  std::uint64_t on_disk = 0;         ///< records waiting on disk now
  std::uint64_t disk_bytes = 0;      ///< size of the spill files now
  std::uint64_t max_disk_bytes = 0;  ///< high-water mark of disk_bytes
  std::uint64_t held = 0;            ///< messages that waited in memory behind a full disk (or unserialisable)
  std::uint64_t refused = 0;         ///< refused with a full disk (on_disk_full = fail)
  std::uint64_t corrupt = 0;         ///< corrupt records found (never delivered)
  std::uint64_t lost = 0;            ///< messages lost to damage on disk (also dead letters, spill_damaged)
  std::uint64_t discarded = 0;       ///< left by an earlier run without durability, dropped
  std::uint64_t syncs = 0;           ///< write-ahead: fdatasync rounds (each covers every write before it)
};

struct mailbox_metrics {
  std::uint64_t depth = 0;          ///< user messages in memory (what the capacity bounds)
  std::uint64_t capacity = 0;
  std::uint64_t muted_senders = 0;  ///< senders (actors or threads) waiting for room now
  bool closed = false;              ///< the actor has stopped
  spill_metrics spill{};
};

} // namespace troupe
