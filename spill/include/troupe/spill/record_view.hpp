#pragma once
/// @file One record read from a spill store, viewed in place.

#include <cstdint>
#include <string_view>

namespace troupe::spill {

/// The oldest unconsumed record of a `store`, as `store::front` returns it.
/// The views point into the store's read buffer: they stay valid until the
/// next non-const call on that store (`append`, `front`, `pop`) or its
/// destruction. Copy the bytes out to keep them longer.
struct record_view {
  /// The type name given to `append` (may be empty).
  std::string_view type_name;
  /// The payload given to `append` (any bytes, may be empty).
  std::string_view payload;
  /// Position in the store's FIFO order; increases by one per append and
  /// never repeats within one directory while its cursor file exists.
  std::uint64_t sequence = 0;
};

} // namespace troupe::spill
