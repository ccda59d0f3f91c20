// Recovery on store::open: what an earlier store left in the directory,
// checked record by record; damage counted (see spill/README.md).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "damage.hpp"
#include "store_impl.hpp"

namespace troupe::spill {

using detail::log;
using detail::scan_chunk_bytes;
using detail::throw_errno;

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

} // namespace troupe::spill
