#pragma once
/// @file Counters of a spill store, as `store::stats` reports them.

#include <cstdint>

namespace troupe::spill {

/// A snapshot of one store. The first four describe the directory now; the
/// rest count events since this store object was opened.
struct store_stats {
  /// Unconsumed records in the segment files (the same as `store::size()`).
  std::uint64_t records = 0;
  /// Sum of the segment file sizes, consumed-but-not-yet-deleted bytes
  /// included: what `disk_capacity_bytes` bounds. The cursor file (544
  /// bytes) is not counted.
  std::uint64_t bytes_on_disk = 0;
  /// Highest `bytes_on_disk` seen since open.
  std::uint64_t max_bytes_on_disk = 0;
  /// Segment files in the directory.
  std::uint64_t segments = 0;
  /// Records accepted by `append`.
  std::uint64_t appended = 0;
  /// Records removed by `pop`.
  std::uint64_t consumed = 0;
  /// Corrupt records found (on open or on read): checksum mismatch,
  /// impossible length, sequence out of order, bad segment header, a record
  /// cut short anywhere but at the end of the last segment. None was
  /// returned; each also lost the rest of its segment.
  std::uint64_t corrupt_records = 0;
  /// Records lost to damage: those after each bad spot in its segment
  /// (counted by sequence number: up to the next segment, or for the last
  /// segment up to the last record after the spot that still checks out),
  /// and those of segment files missing from the sequence (a file deleted).
  std::uint64_t lost_records = 0;
  /// Records cut short at the end of the last segment, found on open (a
  /// process killed inside `append`) and truncated away.
  std::uint64_t truncated_tails = 0;
};

} // namespace troupe::spill
