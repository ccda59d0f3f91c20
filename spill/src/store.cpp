#include "troupe/spill/store.hpp"
#include "troupe/detail/logger.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "bytes.hpp"
#include "cursor_file.hpp"
#include "damage.hpp"
#include "posix_file.hpp"
#include "segment_reader.hpp"
#include "troupe/spill/crc32c.hpp"
#include "troupe/spill/format.hpp"

namespace troupe::spill {

using detail::segment_reader;
using detail::throw_errno;
using detail::unique_fd;

namespace {

/// Read buffer of the consumer; a larger record gets a buffer of its size.
constexpr std::size_t read_chunk_bytes = 64 * 1024;
/// Read buffer of the recovery scan in `open`.
constexpr std::size_t scan_chunk_bytes = 256 * 1024;

spdlog::logger& log() { return troupe::detail::logger(); }

/// mkdir -p, every directory it creates with mode 0700.
void make_directory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return;
  int err = errno;
  if (err == EEXIST) return;  // a file of that name fails later, opening it as a directory
  if (err == ENOENT && dir.has_parent_path() && dir.parent_path() != dir) {
    make_directory(dir.parent_path());
    if (::mkdir(dir.c_str(), 0700) == 0) return;
    err = errno;
    if (err == EEXIST) return;
  }
  throw_errno(err, "cannot create directory " + dir.string());
}

/// One segment file, oldest first in `store::impl::segments`.
struct segment {
  std::uint64_t first_sequence = 0;
  std::uint64_t records = 0;     ///< valid records, from first_sequence on
  std::uint64_t end = 0;         ///< offset just past the last valid record
  std::uint64_t file_bytes = 0;  ///< size of the file
  unique_fd fd;                  ///< open while the segment is read or appended to
};

} // namespace

std::string_view to_string(append_result r) noexcept {
  switch (r) {
    case append_result::ok: return "ok";
    case append_result::full: return "full";
  }
  return "unknown";
}

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
  segment_reader reader{read_chunk_bytes};
  bool reader_ready = false;  ///< reader is positioned in segments.front()
  bool loaded = false;        ///< reader holds the front record
  std::uint64_t size = 0;
  store_stats counters;  ///< event counters and byte totals; records/segments filled in by stats()

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
    log().error("troupe::spill: corrupt record in {} at offset {}: {}; the rest of that segment is skipped: {} "
                "record(s) lost",
                path_of(first), offset, reason, lost);
  }
  /// Records [from, to) are in no segment file: counted and logged.
  void report_missing(std::uint64_t from, std::uint64_t to) {
    counters.lost_records += to - from;
    log().error("troupe::spill: records {} to {} are missing from {} (a segment file deleted?): {} record(s) lost",
                from, to - 1, dir_name, to - from);
  }

  /// Deletes a segment file. A failure is logged, not thrown: the records
  /// in it are consumed and a later open deletes it.
  void remove_file(std::uint64_t first) {
    const std::string name = format::segment_file_name(first);
    if (::unlinkat(dir_fd.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      log().error("troupe::spill: cannot delete {}: {}", path_of(first), std::generic_category().message(errno));
    }
  }

  [[nodiscard]] unique_fd open_segment(std::uint64_t first, int flags) const {
    const std::string name = format::segment_file_name(first);
    unique_fd fd(::openat(dir_fd.get(), name.c_str(), flags | O_CLOEXEC));
    if (!fd) throw_errno(errno, "cannot open " + path_of(first));
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
};

std::vector<std::uint64_t> store::impl::segment_files() const {
  std::vector<std::uint64_t> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(opts.dir, ec), last; !ec && it != last; it.increment(ec)) {
    if (auto first = format::parse_segment_file_name(it->path().filename().native())) names.push_back(*first);
  }
  if (ec) throw std::system_error(ec, "troupe::spill: cannot list " + dir_name);
  std::sort(names.begin(), names.end());
  return names;
}

store::impl::scanned store::impl::scan(segment_reader& r, int fd, std::uint64_t first, std::uint64_t next_first,
                                       std::uint64_t consumed_below, std::uint64_t file_bytes) {
  // Walk the records: count the valid ones, find where the unconsumed start.
  scanned out;
  r.reset(fd, 0, first);
  out.last = r.read_header(file_bytes);
  if (out.last.what != segment_reader::status::ok) return out;
  out.end = r.offset();
  bool resume_found = false;
  for (;;) {
    if (!resume_found && r.sequence() >= consumed_below) {
      out.resume = r.offset();
      resume_found = true;
    }
    out.last = r.peek(file_bytes);
    if (out.last.what != segment_reader::status::ok) return out;
    if (r.record().sequence >= next_first) {
      out.last = {segment_reader::status::corrupt, "sequence out of order (overlaps the next segment)"};
      return out;
    }
    r.advance();
    ++out.records;
    out.end = r.offset();
  }
}

std::optional<std::uint64_t> store::impl::settle_tail(int fd, std::uint64_t first, std::uint64_t next_first,
                                                      std::uint64_t consumed_below, bool last, const scanned& sc,
                                                      std::uint64_t offset, std::uint64_t& file_bytes) {
  if (sc.last.what == segment_reader::status::end) return std::nullopt;
  const std::uint64_t bad = first + sc.records;  // the sequence the bad spot should have held
  const std::uint64_t lost_from = std::max(bad, consumed_below);
  if (!last) {
    report_corrupt(first, offset, sc.last.reason, next_first > lost_from ? next_first - lost_from : 0);
    return next_first;
  }
  const auto later = detail::last_sequence_after(fd, offset + 1, file_bytes, bad, opts.segment_bytes);
  if (sc.last.what != segment_reader::status::truncated || later) {
    // A valid record after the bad spot: not a cut-off append but damage.
    const std::uint64_t to = later ? *later + 1 : bad + 1;
    report_corrupt(first, offset, sc.last.reason, to > lost_from ? to - lost_from : 0);
    return to;  // new records go past every sequence the file still shows
  }
  // A process killed inside append: that record was never acknowledged.
  // (A 0-byte file is one killed between creating and writing it.)
  if (file_bytes > sc.end) {
    ++counters.truncated_tails;
    log().warn("troupe::spill: {} ends in a record cut short at offset {} ({}); truncated to {} bytes", path_of(first),
               sc.end, sc.last.reason, sc.end);
    if (::ftruncate(fd, static_cast<off_t>(sc.end)) != 0) throw_errno(errno, "cannot truncate " + path_of(first));
    file_bytes = sc.end;
  }
  return std::nullopt;
}

void store::impl::recover() {
  const auto cur = cursor.load();
  if (cur.damaged) {
    log().warn("troupe::spill: {}/{} has no valid slot: every record left in {} is delivered again", dir_name,
               format::cursor_file_name, dir_name);
  }
  const std::uint64_t consumed_below = cur.next_sequence.value_or(0);
  write_sequence = consumed_below;
  read_sequence = consumed_below;
  const std::vector<std::uint64_t> names = segment_files();
  segment_reader walker(scan_chunk_bytes);
  bool last_clean = false;
  // The next record a segment should start with: a segment starting later
  // means records in none (a deleted file). Unknown without a trusted cursor.
  std::optional<std::uint64_t> expected;
  if (cur.next_sequence && !cur.damaged && opts.persist_cursor) expected = consumed_below;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::uint64_t first = names[i];
    const bool last = i + 1 == names.size();
    const std::uint64_t next_first = last ? UINT64_MAX : names[i + 1];
    if (!last && next_first <= consumed_below) {  // all its records precede the cursor
      remove_file(first);
      continue;
    }
    if (expected && first > *expected) report_missing(*expected, first);
    unique_fd fd = open_segment(first, last ? O_RDWR : O_RDONLY);
    std::uint64_t file_bytes = detail::file_size(fd.get(), path_of(first));
    const scanned sc = scan(walker, fd.get(), first, next_first, consumed_below, file_bytes);
    const auto damaged_to =
        settle_tail(fd.get(), first, next_first, consumed_below, last, sc, walker.offset(), file_bytes);
    const bool clean = !damaged_to;
    expected = damaged_to.value_or(first + sc.records);  // a damaged one's losses are counted up to there
    // A new segment must sort after this one, even when it has no valid record.
    write_sequence = std::max(write_sequence, clean ? first + sc.records : std::max(*damaged_to, first + 1));
    const std::uint64_t from = std::max(first, consumed_below);
    const std::uint64_t unconsumed = first + sc.records > from ? first + sc.records - from : 0;
    if (unconsumed == 0) {
      fd.reset();
      remove_file(first);
      continue;
    }
    if (segments.empty()) {
      read_sequence = from;
      read_offset = sc.resume;
    }
    last_clean = last && clean;
    if (!last_clean) fd.reset();  // reopened for reading when it becomes the front
    segments.push_back(segment{first, sc.records, sc.end, file_bytes, std::move(fd)});
    size += unconsumed;
    add_bytes(file_bytes);
  }
  appendable = !segments.empty() && last_clean;
  if (segments.empty()) read_sequence = write_sequence;
  if (size > 0) {
    log().debug("troupe::spill: opened {}: {} records in {} segments recovered", dir_name, size, segments.size());
  }
}

std::size_t store::impl::record_head(unsigned char* head, bool fresh, std::uint64_t bytes, std::string_view type_name,
                                     std::string_view payload) const noexcept {
  // Segment header (for a new segment) and record header, in one buffer.
  std::size_t head_len = 0;
  if (fresh) {
    detail::store_le(head, format::segment_magic, 4);
    detail::store_le(head + 4, format::version, 4);
    head_len = format::segment_header_bytes;
  }
  unsigned char* rec = head + head_len;
  const std::uint64_t length = bytes - 8;
  detail::store_le(rec, length, 4);
  detail::store_le(rec + 8, write_sequence, 8);
  detail::store_le(rec + 16, type_name.size(), 2);
  std::uint32_t crc = crc32c(rec, 4);
  crc = crc32c(rec + 8, format::record_header_bytes - 8, crc);
  crc = crc32c(type_name, crc);
  crc = crc32c(payload, crc);
  detail::store_le(rec + 4, crc, 4);
  return head_len + format::record_header_bytes;
}

bool store::impl::write_record(bool fresh, unique_fd& created, std::uint64_t bytes, std::string_view type_name,
                               std::string_view payload) {
  unsigned char head[format::segment_header_bytes + format::record_header_bytes];
  const std::size_t head_len = record_head(head, fresh, bytes, type_name, payload);
  const int fd = fresh ? created.get() : segments.back().fd.get();
  const std::uint64_t at = fresh ? 0 : segments.back().file_bytes;
  iovec iov[3] = {{head, head_len},
                  {const_cast<char*>(type_name.data()), type_name.size()},
                  {const_cast<char*>(payload.data()), payload.size()}};
  int err = detail::pwritev_full(fd, iov, 3, at);
  if (err == 0 && opts.fsync && ::fdatasync(fd) != 0) err = errno;
  if (err == 0 && opts.fsync && fresh && ::fsync(dir_fd.get()) != 0) err = errno;
  if (err == 0) return true;
  // Undo the partial write so the file ends with a whole record.
  if (fresh) {
    created.reset();
    remove_file(write_sequence);
  } else if (::ftruncate(fd, static_cast<off_t>(at)) != 0) {
    seal_back();  // its tail is garbage now: the next append starts a new segment
  }
  if (err == ENOSPC || err == EDQUOT) {
    log().warn("troupe::spill: {} is out of space: record refused", dir_name);
    return false;
  }
  throw_errno(err, "cannot write " + path_of(fresh ? write_sequence : segments.back().first_sequence));
}

append_result store::impl::append(std::string_view type_name, std::string_view payload) {
  if (type_name.size() > format::max_type_name_bytes) {
    throw std::invalid_argument("troupe::spill::store::append: type_name of " + std::to_string(type_name.size()) +
                                " bytes (at most 65535)");
  }
  if (payload.size() > format::max_record_data_bytes - type_name.size()) {
    throw std::invalid_argument("troupe::spill::store::append: payload of " + std::to_string(payload.size()) +
                                " bytes is too large (type name + payload at most 4294967285 bytes)");
  }
  const std::uint64_t bytes = format::record_bytes(type_name.size(), payload.size());
  const bool fresh = !appendable || segments.back().file_bytes + bytes > opts.segment_bytes;
  const std::uint64_t need = bytes + (fresh ? format::segment_header_bytes : 0);
  if (need > opts.disk_capacity_bytes || counters.bytes_on_disk > opts.disk_capacity_bytes - need) {
    return append_result::full;
  }

  unique_fd created;
  if (fresh) {
    seal_back();
    const std::string name = format::segment_file_name(write_sequence);
    created = unique_fd(::openat(dir_fd.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!created) throw_errno(errno, "cannot create " + path_of(write_sequence));
  }
  if (!write_record(fresh, created, bytes, type_name, payload)) return append_result::full;
  if (fresh) {
    if (segments.empty()) {
      read_sequence = write_sequence;
      read_offset = format::segment_header_bytes;
      reader_ready = false;
    }
    segments.push_back(segment{write_sequence, 0, format::segment_header_bytes, format::segment_header_bytes,
                               std::move(created)});
    appendable = true;
  }
  segment& s = segments.back();
  ++s.records;
  s.file_bytes += bytes;
  s.end = s.file_bytes;
  add_bytes(need);
  ++write_sequence;
  ++size;
  ++counters.appended;
  return append_result::ok;
}

const record_view* store::impl::front() {
  if (loaded) return &reader.record();
  while (!segments.empty()) {
    segment& s = segments.front();
    const std::uint64_t stop = s.first_sequence + s.records;
    if (read_sequence >= stop) {
      drop_front();
      continue;
    }
    if (!reader_ready) {
      if (!s.fd) s.fd = open_segment(s.first_sequence, O_RDONLY);
      reader.reset(s.fd.get(), read_offset, read_sequence);
      reader_ready = true;
    }
    segment_reader::result r = reader.peek(s.end);
    if (r.what == segment_reader::status::ok) {
      loaded = true;
      return &reader.record();
    }
    // The file changed since it was checked (or written): bad bytes or a
    // shorter file. Nothing after this point in it can be trusted.
    if (r.what == segment_reader::status::end) r.reason = "segment ends before its last record";
    report_corrupt(s.first_sequence, reader.offset(), r.reason, stop - read_sequence);
    size -= stop - read_sequence;
    drop_front();
    // Past the damage for good: the next open must not count it missing.
    if (opts.persist_cursor) cursor.store(read_sequence, opts.fsync);
  }
  return nullptr;
}

void store::impl::pop() {
  if (!loaded && front() == nullptr) throw std::logic_error("troupe::spill::store::pop: the store is empty");
  reader.advance();
  loaded = false;
  read_sequence = reader.sequence();
  read_offset = reader.offset();
  --size;
  ++counters.consumed;
  // The cursor first: a crash between the two leaves a consumed segment,
  // which the next open deletes, never a lost record.
  if (opts.persist_cursor) cursor.store(read_sequence, opts.fsync);
  const segment& s = segments.front();
  if (read_sequence >= s.first_sequence + s.records) drop_front();
}

void store::impl::drop_front() {
  segment s = std::move(segments.front());
  segments.pop_front();
  reader_ready = false;
  loaded = false;
  if (segments.empty()) {
    appendable = false;  // it was the one being appended to: start fresh
    read_sequence = write_sequence;
  } else {
    read_sequence = segments.front().first_sequence;
    read_offset = format::segment_header_bytes;
  }
  s.fd.reset();
  remove_file(s.first_sequence);
  counters.bytes_on_disk -= s.file_bytes;
}

void store::impl::seal_back() noexcept {
  if (!appendable) return;
  appendable = false;
  if (segments.size() > 1) segments.back().fd.reset();  // the front keeps its descriptor for reading
}

// ---- store ------------------------------------------------------------------

store::store(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
store::~store() = default;

std::unique_ptr<store> store::open(store_options options) {
  options.validate();
  make_directory(options.dir);
  unique_fd dir_fd(::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) throw_errno(errno, "cannot open directory " + options.dir.string());
  auto p = std::make_unique<impl>(std::move(options), std::move(dir_fd));
  p->recover();
  return std::unique_ptr<store>(new store(std::move(p)));
}

append_result store::append(std::string_view type_name, std::string_view payload) {
  return impl_->append(type_name, payload);
}

std::optional<record_view> store::front() {
  if (const record_view* r = impl_->front()) return *r;
  return std::nullopt;
}

void store::pop() { impl_->pop(); }

bool store::empty() const noexcept { return impl_->size == 0; }

std::uint64_t store::size() const noexcept { return impl_->size; }

store_stats store::stats() const noexcept {
  store_stats s = impl_->counters;
  s.records = impl_->size;
  s.segments = impl_->segments.size();
  return s;
}

const store_options& store::options() const noexcept { return impl_->opts; }

} // namespace troupe::spill
