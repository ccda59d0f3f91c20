#pragma once
// The persisted read position of a store (private). See format.hpp.

#include <cstdint>
#include <optional>

#include "posix_file.hpp"

namespace troupe::spill::detail {

/// The `cursor` file of a spill directory: the sequence of the next record
/// to deliver, in two checksummed slots written in turn, so a write torn by
/// a machine crash leaves the previous value readable. Holds an exclusive
/// flock(2) on the file while open: one store per directory.
class cursor_file {
 public:
  struct loaded {
    std::optional<std::uint64_t> next_sequence;  ///< nullopt: no valid slot
    bool damaged = false;                        ///< the file had bytes but no valid slot
  };

  /// Opens (creating it, mode 0600) and locks the cursor of directory
  /// `dir_fd`. Throws std::system_error, also when another store holds it.
  cursor_file(int dir_fd, const std::string& dir_name);

  /// Reads the persisted position.
  [[nodiscard]] loaded load();

  /// Persists `next_sequence` (and fdatasyncs it when `sync`). Throws
  /// std::system_error.
  void store(std::uint64_t next_sequence, bool sync);

 private:
  unique_fd fd_;
  std::string name_;
  std::uint64_t generation_ = 0;
};

} // namespace troupe::spill::detail
