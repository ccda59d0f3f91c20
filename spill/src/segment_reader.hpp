#pragma once
// Reads one segment file through a buffer and validates its records (private).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "troupe/spill/record_view.hpp"

namespace troupe::spill::detail {

/// Walks the records of one segment file in order, one checked record at a
/// time, reading the file in chunks of `chunk_bytes` (a larger record gets a
/// buffer of its own size). It does not own the file descriptor.
class segment_reader {
 public:
  enum class status : unsigned char {
    ok,         ///< a valid record: `record()` views it
    end,        ///< no bytes left before `end`
    truncated,  ///< fewer bytes left than the record needs (a cut-off write)
    corrupt,    ///< checksum, length, sequence or header check failed
  };
  struct result {
    status what = status::ok;
    std::string reason;  ///< for truncated and corrupt
  };

  explicit segment_reader(std::size_t chunk_bytes) noexcept : chunk_(chunk_bytes) {}

  /// Starts at `offset` of `fd`, where the record `sequence` is expected.
  /// Forgets the buffered bytes.
  void reset(int fd, std::uint64_t offset, std::uint64_t sequence) noexcept;

  /// Checks the segment header of a file of `end` bytes; on ok the reader
  /// is positioned at the first record.
  [[nodiscard]] result read_header(std::uint64_t end);

  /// Checks the record at the current offset; the file's bytes are trusted
  /// up to `end`. On ok `record()` views it (until the next peek or reset)
  /// and `advance()` moves past it.
  [[nodiscard]] result peek(std::uint64_t end);
  [[nodiscard]] const record_view& record() const noexcept { return record_; }
  void advance() noexcept {
    offset_ += record_bytes_;
    ++sequence_;
    record_bytes_ = 0;
  }

  /// Offset of the record `peek` examines next.
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
  /// Sequence number expected of that record.
  [[nodiscard]] std::uint64_t sequence() const noexcept { return sequence_; }

 private:
  /// Makes [off, off + n) of the file available at the returned pointer, or
  /// returns nullptr when the file ends first (it shrank under us).
  const unsigned char* bytes(std::uint64_t off, std::size_t n, std::uint64_t end);

  std::size_t chunk_;
  int fd_ = -1;
  std::uint64_t offset_ = 0;
  std::uint64_t sequence_ = 0;
  std::uint64_t record_bytes_ = 0;
  record_view record_{};
  std::vector<unsigned char> buf_;
  std::uint64_t buf_offset_ = 0;  // file offset of buf_[0]
  std::size_t buf_len_ = 0;       // valid bytes in buf_
};

} // namespace troupe::spill::detail
