#include "troupe/spill/format.hpp"

#include <cstdio>

namespace troupe::spill::format {

std::string segment_file_name(std::uint64_t first_sequence) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg", static_cast<unsigned long long>(first_sequence));
  return buf;
}

std::optional<std::uint64_t> parse_segment_file_name(std::string_view name) noexcept {
  constexpr std::size_t digits = 20;
  if (name.size() != digits + 4 || name.substr(digits) != ".seg") return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;  // past 2^64 - 1
    v = v * 10 + d;
  }
  return v;
}

} // namespace troupe::spill::format
