#pragma once
// Private to troupe-top: the Prometheus text format read back into samples.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::top {

/// One sample line: `name{labels} value`.
struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  [[nodiscard]] std::string label(const std::string& k) const {
    auto it = labels.find(k);
    return it == labels.end() ? std::string() : it->second;
  }
};

/// Every sample of `text` (comments skipped). A malformed line is skipped
/// and counted in `bad_lines`.
std::vector<sample> parse_exposition(std::string_view text, std::size_t* bad_lines = nullptr);

} // namespace troupe::top
