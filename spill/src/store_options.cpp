#include "troupe/spill/store_options.hpp"

#include <stdexcept>
#include <string>

namespace troupe::spill {

void store_options::validate() const {
  if (dir.empty()) throw std::invalid_argument("store_options: dir must not be empty");
  if (disk_capacity_bytes == 0) throw std::invalid_argument("store_options: disk_capacity_bytes must be at least 1");
  if (segment_bytes < min_segment_bytes) {
    throw std::invalid_argument("store_options: segment_bytes (" + std::to_string(segment_bytes) +
                                ") must be at least " + std::to_string(min_segment_bytes));
  }
  if (segment_bytes > disk_capacity_bytes) {
    throw std::invalid_argument("store_options: segment_bytes (" + std::to_string(segment_bytes) +
                                ") must not exceed disk_capacity_bytes (" + std::to_string(disk_capacity_bytes) + ")");
  }
}

} // namespace troupe::spill
