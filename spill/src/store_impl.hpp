#pragma once
// The state behind troupe::spill::store (private to the spill component):
// store.cpp appends, reads and pops; recovery.cpp rebuilds it on open.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cursor_file.hpp"
#include "posix_file.hpp"
#include "segment_reader.hpp"
#include "troupe/detail/logger.hpp"
#include "troupe/spill/format.hpp"
#include "troupe/spill/store.hpp"

namespace troupe::spill {

namespace detail {
/// Read buffer of the consumer; a larger record gets a buffer of its size.
inline constexpr std::size_t read_chunk_bytes = 64 * 1024;
/// Read buffer of the recovery scan in `open`.
inline constexpr std::size_t scan_chunk_bytes = 256 * 1024;

inline spdlog::logger& log() { return troupe::detail::logger(); }

/// One segment file, oldest first in `store::impl::segments`.
struct segment {
  std::uint64_t first_sequence = 0;
  std::uint64_t records = 0;     ///< valid records, from first_sequence on
  std::uint64_t end = 0;         ///< offset just past the last valid record
  std::uint64_t file_bytes = 0;  ///< size of the file
  unique_fd fd;                  ///< open while the segment is read or appended to
};
} // namespace detail

using detail::segment;
using detail::segment_reader;
using detail::unique_fd;

struct store::impl {
  store_options opts;
  std::string dir_name;
  unique_fd dir_fd;
  detail::cursor_file cursor;

  std::deque<segment> segments;
  bool appendable = false;           ///< segments.back() takes appends
  std::uint64_t write_sequence = 0;  ///< sequence of the next append
  std::uint64_t read_sequence = 0;   ///< sequence of the next record to deliver
  std::uint64_t read_offset = 0;     ///< its offset in segments.front(), until the reader is set up
  segment_reader reader{detail::read_chunk_bytes};
  bool reader_ready = false;  ///< reader is positioned in segments.front()
  bool loaded = false;        ///< reader holds the front record
  std::uint64_t size = 0;
  store_stats counters;  ///< event counters and byte totals; records/segments filled in by stats()
  /// Written since the last prepare_sync: segments from this first sequence
  /// on (UINT64_MAX: none), and whether a segment file was created.
  std::uint64_t unsynced_from = UINT64_MAX;
  bool created_unsynced = false;

  impl(store_options o, unique_fd dfd)
      : opts(std::move(o)), dir_name(opts.dir.string()), dir_fd(std::move(dfd)), cursor(dir_fd.get(), dir_name) {}

  [[nodiscard]] std::string path_of(std::uint64_t first) const {
    return dir_name + "/" + format::segment_file_name(first);
  }

  void add_bytes(std::uint64_t n) noexcept {
    counters.bytes_on_disk += n;
    counters.max_bytes_on_disk = std::max(counters.max_bytes_on_disk, counters.bytes_on_disk);
  }

  /// A bad spot at `offset` of segment `first`: the rest of the segment is
  /// skipped, `lost` records with it (counted and logged).
  void report_corrupt(std::uint64_t first, std::uint64_t offset, const std::string& reason, std::uint64_t lost) {
    ++counters.corrupt_records;
    counters.lost_records += lost;
    detail::log().error("troupe::spill: corrupt record in {} at offset {}: {}; the rest of that segment is skipped: {} "
                "record(s) lost",
                path_of(first), offset, reason, lost);
  }
  /// Records [from, to) are in no segment file: counted and logged.
  void report_missing(std::uint64_t from, std::uint64_t to) {
    counters.lost_records += to - from;
    detail::log().error("troupe::spill: records {} to {} are missing from {} (a segment file deleted?): {} record(s) lost",
                from, to - 1, dir_name, to - from);
  }

  /// Deletes a segment file. A failure is logged, not thrown: the records
  /// in it are consumed and a later open deletes it.
  void remove_file(std::uint64_t first) {
    const std::string name = format::segment_file_name(first);
    if (::unlinkat(dir_fd.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      detail::log().error("troupe::spill: cannot delete {}: {}", path_of(first), std::generic_category().message(errno));
    }
  }

  [[nodiscard]] unique_fd open_segment(std::uint64_t first, int flags) const {
    const std::string name = format::segment_file_name(first);
    unique_fd fd(::openat(dir_fd.get(), name.c_str(), flags | O_CLOEXEC));
    if (!fd) detail::throw_errno(errno, "cannot open " + path_of(first));
    return fd;
  }

  /// The first sequence numbers of the segment files in the directory, sorted.
  [[nodiscard]] std::vector<std::uint64_t> segment_files() const;
  /// What recovery found in one segment file.
  struct scanned {
    std::uint64_t records = 0;  ///< valid records
    std::uint64_t end = 0;      ///< offset just past the last valid one
    std::uint64_t resume = 0;   ///< offset of the first unconsumed one
    segment_reader::result last{segment_reader::status::end, {}};  ///< why the walk stopped
  };
  scanned scan(segment_reader& r, int fd, std::uint64_t first, std::uint64_t next_first, std::uint64_t consumed_below,
               std::uint64_t file_bytes);
  /// Whether a scanned segment ends cleanly: a record cut short at the end
  /// of the last one (nothing valid after it) is truncated away; anything
  /// else is reported corrupt, with the records lost: up to `next_first`,
  /// or for the last segment up to the last record after the bad spot that
  /// still checks out.
  /// Returns nullopt when clean, else the first sequence past the damage.
  std::optional<std::uint64_t> settle_tail(int fd, std::uint64_t first, std::uint64_t next_first,
                                           std::uint64_t consumed_below, bool last, const scanned& sc,
                                           std::uint64_t offset, std::uint64_t& file_bytes);
  void recover();
  /// Builds the segment header (when `fresh`) and the record header into `head`; its length.
  std::size_t record_head(unsigned char* head, bool fresh, std::uint64_t bytes, std::string_view type_name,
                          std::string_view payload) const noexcept;
  /// Writes one record; false when the disk is full (the write undone).
  bool write_record(bool fresh, unique_fd& created, std::uint64_t bytes, std::string_view type_name,
                    std::string_view payload);
  append_result append(std::string_view type_name, std::string_view payload);
  const record_view* front();
  void pop();
  void drop_front();
  void seal_back() noexcept;
  sync_point prepare_sync();
};

} // namespace troupe::spill
