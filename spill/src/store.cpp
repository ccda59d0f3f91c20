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
#include <utility>
#include <vector>

#include "bytes.hpp"
#include "store_impl.hpp"
#include "troupe/spill/crc32c.hpp"
#include "troupe/spill/format.hpp"

namespace troupe::spill {

using detail::log;
using detail::read_chunk_bytes;
using detail::throw_errno;

namespace {

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

} // namespace

std::string_view to_string(append_result r) noexcept {
  switch (r) {
    case append_result::ok: return "ok";
    case append_result::full: return "full";
  }
  return "unknown";
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
  unsynced_from = std::min(unsynced_from, s.first_sequence);
  created_unsynced = created_unsynced || fresh;
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

sync_point store::impl::prepare_sync() {
  sync_point p;
  for (segment& s : segments) {
    if (s.first_sequence < unsynced_from) continue;
    const int fd = s.fd ? ::dup(s.fd.get()) : ::openat(dir_fd.get(), format::segment_file_name(s.first_sequence).c_str(),
                                                         O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_errno(errno, "cannot open " + path_of(s.first_sequence) + " to sync it");
    p.fds_.push_back(fd);
  }
  if (created_unsynced) {
    p.dir_ = ::dup(dir_fd.get());
    if (p.dir_ < 0) throw_errno(errno, "cannot sync " + dir_name);
  }
  unsynced_from = UINT64_MAX;
  created_unsynced = false;
  return p;
}

// ---- sync_point ---------------------------------------------------------------

sync_point::~sync_point() { close(); }
sync_point::sync_point(sync_point&& o) noexcept : fds_(std::move(o.fds_)), dir_(std::exchange(o.dir_, -1)) {
  o.fds_.clear();
}
sync_point& sync_point::operator=(sync_point&& o) noexcept {
  if (this != &o) {
    close();
    fds_ = std::move(o.fds_);
    o.fds_.clear();
    dir_ = std::exchange(o.dir_, -1);
  }
  return *this;
}
void sync_point::close() noexcept {
  for (int fd : fds_) ::close(fd);
  fds_.clear();
  if (dir_ >= 0) ::close(std::exchange(dir_, -1));
}
void sync_point::run() {
  for (int fd : fds_) {
    if (::fdatasync(fd) != 0) throw_errno(errno, "fdatasync of a spill segment");
  }
  if (dir_ >= 0 && ::fsync(dir_) != 0) throw_errno(errno, "fsync of a spill directory");
  close();
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

sync_point store::prepare_sync() { return impl_->prepare_sync(); }

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
