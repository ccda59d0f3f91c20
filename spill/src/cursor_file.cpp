#include "cursor_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>

#include "bytes.hpp"
#include "troupe/spill/crc32c.hpp"
#include "troupe/spill/format.hpp"

namespace troupe::spill::detail {

namespace {

constexpr std::size_t crc_offset = format::cursor_slot_bytes - 4;

struct slot {
  std::uint64_t generation;
  std::uint64_t next_sequence;
};

std::optional<slot> decode(const unsigned char* p) noexcept {
  if (load_le32(p) != format::cursor_magic || load_le32(p + 4) != format::version) return std::nullopt;
  if (crc32c(p, crc_offset) != load_le32(p + crc_offset)) return std::nullopt;
  return slot{load_le64(p + 8), load_le64(p + 16)};
}

} // namespace

cursor_file::cursor_file(int dir_fd, const std::string& dir_name) : name_(dir_name + "/" + std::string(format::cursor_file_name)) {
  const std::string file(format::cursor_file_name);
  fd_ = unique_fd(::openat(dir_fd, file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd_) throw_errno(errno, "cannot open " + name_);
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) throw_errno(err, dir_name + " is already open by another spill store");
    throw_errno(err, "cannot lock " + name_);
  }
}

cursor_file::loaded cursor_file::load() {
  std::array<unsigned char, format::cursor_second_slot_offset + format::cursor_slot_bytes> buf{};
  const std::size_t got = pread_full(fd_.get(), buf.data(), buf.size(), 0);
  loaded out;
  std::optional<slot> best;
  for (std::size_t at : {std::size_t{0}, format::cursor_second_slot_offset}) {
    if (got < at + format::cursor_slot_bytes) continue;
    if (auto s = decode(buf.data() + at); s && (!best || s->generation > best->generation)) best = s;
  }
  if (best) {
    generation_ = best->generation;
    out.next_sequence = best->next_sequence;
  } else {
    out.damaged = got > 0;
  }
  return out;
}

void cursor_file::store(std::uint64_t next_sequence, bool sync) {
  ++generation_;
  std::array<unsigned char, format::cursor_slot_bytes> s{};
  store_le(s.data(), format::cursor_magic, 4);
  store_le(s.data() + 4, format::version, 4);
  store_le(s.data() + 8, generation_, 8);
  store_le(s.data() + 16, next_sequence, 8);
  store_le(s.data() + crc_offset, crc32c(s.data(), crc_offset), 4);
  const std::uint64_t at = (generation_ % 2 == 0) ? 0 : format::cursor_second_slot_offset;
  iovec iov{s.data(), s.size()};
  if (const int err = pwritev_full(fd_.get(), &iov, 1, at); err != 0) throw_errno(err, "cannot write " + name_);
  if (sync && ::fdatasync(fd_.get()) != 0) throw_errno(errno, "cannot sync " + name_);
}

} // namespace troupe::spill::detail
