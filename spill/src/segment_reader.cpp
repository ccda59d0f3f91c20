#include "segment_reader.hpp"

#include <algorithm>

#include "bytes.hpp"
#include "posix_file.hpp"
#include "troupe/spill/crc32c.hpp"
#include "troupe/spill/format.hpp"

namespace troupe::spill::detail {

void segment_reader::reset(int fd, std::uint64_t offset, std::uint64_t sequence) noexcept {
  fd_ = fd;
  offset_ = offset;
  sequence_ = sequence;
  record_bytes_ = 0;
  record_ = {};
  buf_len_ = 0;
  buf_offset_ = 0;
}

const unsigned char* segment_reader::bytes(std::uint64_t off, std::size_t n, std::uint64_t end) {
  if (off >= buf_offset_ && off + n <= buf_offset_ + buf_len_) return buf_.data() + (off - buf_offset_);
  // One read of a whole chunk (or of the record when it is larger), never
  // past `end`: the bytes after it may still be being written.
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, chunk_), end - off));
  if (buf_.size() < want) {
    buf_.clear();
    buf_.shrink_to_fit();
    buf_.resize(want);
  } else if (buf_.size() > 4 * chunk_ && want <= chunk_) {
    buf_ = std::vector<unsigned char>(chunk_);  // give back the memory of a past huge record
  }
  buf_len_ = 0;
  const std::size_t got = pread_full(fd_, buf_.data(), want, off);
  buf_offset_ = off;
  buf_len_ = got;
  return got >= n ? buf_.data() : nullptr;
}

segment_reader::result segment_reader::read_header(std::uint64_t end) {
  if (end < format::segment_header_bytes) return {status::truncated, "segment header cut short"};
  const unsigned char* p = bytes(0, format::segment_header_bytes, end);
  if (p == nullptr) return {status::truncated, "segment header cut short"};
  if (load_le32(p) != format::segment_magic) return {status::corrupt, "not a segment file (bad magic)"};
  if (const std::uint32_t v = load_le32(p + 4); v != format::version) {
    return {status::corrupt, "unsupported segment format version " + std::to_string(v)};
  }
  offset_ = format::segment_header_bytes;
  return {};
}

segment_reader::result segment_reader::peek(std::uint64_t end) {
  record_bytes_ = 0;
  if (offset_ >= end) return {status::end, {}};
  const std::uint64_t left = end - offset_;
  if (left < format::record_header_bytes) return {status::truncated, "record header cut short"};
  const unsigned char* p = bytes(offset_, format::record_header_bytes, end);
  if (p == nullptr) return {status::truncated, "file shorter than expected"};
  const std::uint32_t length = load_le32(p);
  if (length < format::min_record_length) return {status::corrupt, "impossible length " + std::to_string(length)};
  const std::uint64_t total = std::uint64_t{8} + length;
  if (total > left) return {status::truncated, "record of " + std::to_string(total) + " bytes cut short"};
  p = bytes(offset_, static_cast<std::size_t>(total), end);
  if (p == nullptr) return {status::truncated, "file shorter than expected"};
  const std::uint32_t stored_crc = load_le32(p + 4);
  const std::uint32_t crc = crc32c(p + 8, static_cast<std::size_t>(length), crc32c(p, 4));
  if (crc != stored_crc) return {status::corrupt, "checksum mismatch"};
  const std::uint64_t seq = load_le64(p + 8);
  if (seq != sequence_) {
    return {status::corrupt,
            "sequence out of order (expected " + std::to_string(sequence_) + ", found " + std::to_string(seq) + ")"};
  }
  const std::uint16_t type_len = load_le16(p + 16);
  if (type_len > length - format::min_record_length) {
    return {status::corrupt, "impossible type-name length " + std::to_string(type_len)};
  }
  const auto* data = reinterpret_cast<const char*>(p + format::record_header_bytes);
  record_.type_name = std::string_view(data, type_len);
  record_.payload = std::string_view(data + type_len, length - format::min_record_length - type_len);
  record_.sequence = seq;
  record_bytes_ = total;
  return {};
}

} // namespace troupe::spill::detail
