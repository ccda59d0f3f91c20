#pragma once
/// @file A disk-backed FIFO of records: the storage under the `spill`
/// mailbox overflow policy (memory first, then append-only segment files,
/// nothing lost).
///
/// Records go to the end of the newest segment file in one pwritev(2) and
/// are read from the oldest through a buffer. A `cursor` file keeps the
/// position of the next record to deliver. A segment file is deleted when
/// its last record is consumed; an empty store has no segment files.
///
/// Guarantees (see spill/README.md):
/// - A record `append` accepted is delivered by `front` exactly once, in
///   append order, across any number of reopenings of the directory, also
///   when the process is killed (kill -9) anywhere: a record is on disk
///   once `append` returns, a consumption once `pop` returns.
/// - With `fsync = false` a machine crash (power loss, kernel panic) may
///   lose records appended shortly before it or deliver again records popped
///   shortly before it. With `fsync = true` it does neither.
/// - Corrupt bytes are never delivered as a record: they are counted
///   (`store_stats::corrupt_records`), logged, and the rest of that segment
///   is skipped, since nothing after a bad record can be trusted.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "troupe/spill/record_view.hpp"
#include "troupe/spill/store_options.hpp"
#include "troupe/spill/store_stats.hpp"

namespace troupe::spill {

/// Outcome of `store::append`.
enum class append_result : unsigned char {
  ok,    ///< the record is stored
  full,  ///< refused, nothing written: it would take the segment files past
         ///< `disk_capacity_bytes`, or the file system is out of space
};

/// "ok" or "full".
[[nodiscard]] std::string_view to_string(append_result r) noexcept;

/// The files a store wrote since its last `prepare_sync`, to be made
/// durable by `run` without the store: the owner takes it under its own
/// serialisation and runs it outside, so appends go on during the
/// fdatasync (a group commit). Move-only; owns duplicated descriptors.
class sync_point {
 public:
  sync_point() = default;
  ~sync_point();
  sync_point(sync_point&& o) noexcept;
  sync_point& operator=(sync_point&& o) noexcept;
  sync_point(const sync_point&) = delete;
  sync_point& operator=(const sync_point&) = delete;
  /// fdatasync of each file written, fsync of the directory when a file was
  /// created. Any thread. @throws std::system_error
  void run();
  [[nodiscard]] bool empty() const noexcept { return fds_.empty() && dir_ < 0; }

 private:
  friend class store;
  void close() noexcept;
  std::vector<int> fds_;
  int dir_ = -1;
};

/// A FIFO of (type name, payload) records kept in one directory.
///
/// Not thread-safe: one owner calls every member, or the owner serialises
/// the calls (one actor, or a mutex). Two stores cannot share a directory
/// (the second `open` throws), across processes too; a child forked while a
/// store is open shares its lock. Every member that touches the disk throws
/// std::system_error (a std::runtime_error) on an I/O error other than a
/// full file system.
class store {
 public:
  /// Opens the store in `options.dir`, creating the directory (mode 0700,
  /// missing parents too) when it does not exist, and recovers what an
  /// earlier store left there: unconsumed records come back in order; a
  /// record cut short at the end of the last segment (a process killed in
  /// `append`) is truncated away and counted as a truncated tail; corrupt
  /// records are counted and skipped. Reads every unconsumed segment once.
  /// @throws std::invalid_argument when `options` is invalid
  /// (`store_options::validate`); std::system_error (with the errno text)
  /// when the directory cannot be created, read or written, or another
  /// store has it open.
  [[nodiscard]] static std::unique_ptr<store> open(store_options options);

  /// Closes the files. Unconsumed records stay on disk for the next `open`;
  /// nothing needs flushing (each call already wrote what it changed).
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Appends one record at the back: one pwritev(2) of its header, type
  /// name and payload (plus fdatasync with `fsync`). A record larger than
  /// `segment_bytes` gets a segment of its own.
  /// Returns `full` (nothing written) when the segment files would exceed
  /// `disk_capacity_bytes` or the file system is full (ENOSPC, EDQUOT).
  /// @throws std::invalid_argument when `type_name` exceeds 65535 bytes or
  /// type name + payload exceed 4 GiB - 11 bytes.
  [[nodiscard]] append_result append(std::string_view type_name, std::string_view payload);

  /// The oldest unconsumed record, or nullopt when the store is empty.
  /// Calling it again without `pop` returns the same record. Its views stay
  /// valid until the next non-const call (`append`, `front`, `pop`) or the
  /// store's destruction. A corrupt record met here is counted, logged and
  /// skipped with the rest of its segment (so `size()` may drop by more
  /// than one); it is never returned.
  [[nodiscard]] std::optional<record_view> front();

  /// Consumes the oldest record (the one `front` returns) and persists the
  /// new read position (one 32-byte pwrite; plus fdatasync with `fsync`).
  /// Deletes its segment file when that was the segment's last record.
  /// @throws std::logic_error when the store is empty.
  void pop();

  /// What makes every record appended so far durable (see sync_point).
  /// With `fsync` each append already was. @throws std::system_error
  [[nodiscard]] sync_point prepare_sync();

  /// True when no record is left to deliver.
  [[nodiscard]] bool empty() const noexcept;
  /// Unconsumed records (corrupt ones excluded once found).
  [[nodiscard]] std::uint64_t size() const noexcept;
  /// Counters; see `store_stats`.
  [[nodiscard]] store_stats stats() const noexcept;
  /// The options the store was opened with.
  [[nodiscard]] const store_options& options() const noexcept;

 private:
  struct impl;
  explicit store(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::spill
