#include "exposition.hpp"

#include <cstdlib>

namespace troupe::top {
namespace {

/// Reads `k="v"` pairs from `s` (after the `{`) up to the `}`; false if malformed.
bool parse_labels(std::string_view& s, std::map<std::string, std::string>& out) {
  while (!s.empty() && s.front() != '}') {
    const auto eq = s.find('=');
    if (eq == std::string_view::npos || eq + 1 >= s.size() || s[eq + 1] != '"') return false;
    std::string key(s.substr(0, eq));
    s.remove_prefix(eq + 2);
    std::string value;
    for (;;) {
      if (s.empty()) return false;
      const char c = s.front();
      s.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\' && !s.empty()) {
        const char e = s.front();
        s.remove_prefix(1);
        value += e == 'n' ? '\n' : e;
      } else {
        value += c;
      }
    }
    out.emplace(std::move(key), std::move(value));
    if (!s.empty() && s.front() == ',') s.remove_prefix(1);
  }
  if (s.empty()) return false;
  s.remove_prefix(1);  // '}'
  return true;
}

} // namespace

std::vector<sample> parse_exposition(std::string_view text, std::size_t* bad_lines) {
  std::vector<sample> out;
  std::size_t bad = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty() || line.front() == '#') continue;
    sample s;
    const auto name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos || name_end == 0) {
      ++bad;
      continue;
    }
    s.name = std::string(line.substr(0, name_end));
    line.remove_prefix(name_end);
    if (line.front() == '{') {
      line.remove_prefix(1);
      if (!parse_labels(line, s.labels)) {
        ++bad;
        continue;
      }
    }
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    const std::string value(line.substr(0, line.find(' ')));
    if (value == "+Inf") s.value = 1e308;
    else {
      char* stop = nullptr;
      s.value = std::strtod(value.c_str(), &stop);
      if (value.empty() || stop != value.c_str() + value.size()) {
        ++bad;
        continue;
      }
    }
    out.push_back(std::move(s));
  }
  if (bad_lines != nullptr) *bad_lines = bad;
  return out;
}

} // namespace troupe::top
