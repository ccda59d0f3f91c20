#pragma once
/// @file Where a spill store keeps its files and how much disk it may use:
/// `store_options{.dir = "/var/spool/app/mbox-7", .disk_capacity_bytes = 256 << 20}`.

#include <cstdint>
#include <filesystem>

namespace troupe::spill {

/// Directory, bounds and durability of one `store`.
struct store_options {
  /// Smallest accepted `segment_bytes`.
  static constexpr std::uint64_t min_segment_bytes = 4 * 1024;

  /// Directory that holds the segment files and the cursor; created (mode
  /// 0700) if missing. One store at a time per directory.
  std::filesystem::path dir;
  /// Bound on the sum of the segment file sizes. An append that would pass
  /// it is refused (`append_result::full`). Space comes back a whole segment
  /// at a time, when its last record is consumed.
  std::uint64_t disk_capacity_bytes = 0;
  /// A segment file takes no more appends once the next record would make it
  /// larger than this; a record larger than this gets a segment of its own.
  /// At least `min_segment_bytes`, at most `disk_capacity_bytes`.
  std::uint64_t segment_bytes = 4 * 1024 * 1024;
  /// fdatasync after every append and every cursor update, so records and
  /// consumption also survive a machine crash. Off: they survive the
  /// process being killed (the data is in the page cache), not a power loss.
  bool fsync = false;
  /// Persist the read position on every `pop` (a 32-byte pwrite), so that
  /// reopening after a crash delivers nothing twice. Off for a store whose
  /// leftovers are discarded anyway: `pop` then makes no system call
  /// (except deleting a consumed segment), and a reopened store starts
  /// from the last persisted position.
  bool persist_cursor = true;

  /// Throws std::invalid_argument naming the bad field: empty `dir`,
  /// `disk_capacity_bytes` 0, `segment_bytes` below `min_segment_bytes` or
  /// above `disk_capacity_bytes`.
  void validate() const;
};

} // namespace troupe::spill
