#pragma once
// Counting what damage in a segment file lost (private): the records after
// a bad spot are never delivered (nothing after it can be trusted), but how
// many there were is read from the ones that still check out.

#include <cstdint>
#include <optional>

namespace troupe::spill::detail {

/// The highest sequence number of a record that checks out (length,
/// checksum, a sequence above `bad_sequence` and no further from it than
/// the bytes allow) anywhere in [from, end) of `fd`, or nullopt when none
/// does. Reads at most `max_bytes` of the file (the rest is not looked at).
/// Used to count, never to deliver.
[[nodiscard]] std::optional<std::uint64_t> last_sequence_after(int fd, std::uint64_t from, std::uint64_t end,
                                                                std::uint64_t bad_sequence, std::uint64_t max_bytes);

} // namespace troupe::spill::detail
