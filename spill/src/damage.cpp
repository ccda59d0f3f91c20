#include "damage.hpp"

#include <algorithm>
#include <vector>

#include "bytes.hpp"
#include "posix_file.hpp"
#include "troupe/spill/crc32c.hpp"
#include "troupe/spill/format.hpp"

namespace troupe::spill::detail {

std::optional<std::uint64_t> last_sequence_after(int fd, std::uint64_t from, std::uint64_t end,
                                                  std::uint64_t bad_sequence, std::uint64_t max_bytes) {
  if (end <= from) return std::nullopt;
  const std::uint64_t span = std::min(end - from, max_bytes);
  std::vector<unsigned char> buf(static_cast<std::size_t>(span));
  const std::size_t got = pread_full(fd, buf.data(), buf.size(), from);
  std::optional<std::uint64_t> last;
  // Each record takes at least record_header_bytes: a sequence further from
  // the bad one than that allows cannot be real.
  const std::uint64_t reach = got / format::record_header_bytes + 1;
  for (std::size_t at = 0; at + format::record_header_bytes <= got;) {
    const unsigned char* p = buf.data() + at;
    const std::uint32_t length = load_le32(p);
    const std::uint64_t seq = load_le64(p + 8);
    const bool fits = length >= format::min_record_length && std::uint64_t{8} + length <= got - at;
    if (fits && seq > bad_sequence && seq - bad_sequence <= reach &&
        crc32c(p + 8, length, crc32c(p, 4)) == load_le32(p + 4)) {
      last = std::max(last.value_or(0), seq);
      at += 8 + length;
      continue;
    }
    ++at;
  }
  return last;
}

} // namespace troupe::spill::detail
