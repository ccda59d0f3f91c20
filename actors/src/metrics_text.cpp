// Prometheus text exposition (format 0.0.4): escaping, grouping by family,
// histogram lines.
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "troupe/actors/metrics.hpp"

namespace troupe {
namespace {

bool valid_name(std::string_view n, bool colon_ok) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void append_escaped(std::string& out, std::string_view v, bool quote) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

/// `name{a="x",b="y"}` (or `name` alone), with an optional extra label.
void append_series(std::string& out, std::string_view name, std::string_view suffix, metrics_writer::labels l,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  out.append(name).append(suffix);
  if (l.size() == 0 && extra_name.empty()) return;
  out += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!valid_name(k, false)) throw std::invalid_argument(fmt::format("metrics: bad label name '{}'", k));
    if (!first) out += ',';
    first = false;
    out.append(k).append("=\"");
    append_escaped(out, v, true);
    out += '"';
  };
  for (const auto& [k, v] : l) one(k, v);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out += '}';
}

std::string format_double(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

} // namespace

double latency_histogram::snapshot::quantile_bound(double q) const noexcept {
  const std::uint64_t n = count();
  if (n == 0) return 0;
  const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i + 1 < bucket_count; ++i) {
    seen += counts[i];
    if (seen >= want) return upper_seconds(i);
  }
  return HUGE_VAL;
}

metrics_writer::family& metrics_writer::open(std::string_view name, std::string_view help, kind type) {
  auto it = index_.find(std::string(name));
  if (it != index_.end()) {
    family& f = families_[it->second];
    if (f.type != type) throw std::logic_error(fmt::format("metrics: family {} written as two kinds", name));
    return f;
  }
  if (!valid_name(name, true)) throw std::invalid_argument(fmt::format("metrics: bad family name '{}'", name));
  index_.emplace(std::string(name), families_.size());
  families_.push_back(family{std::string(name), std::string(help), type, {}});
  return families_.back();
}

void metrics_writer::counter(std::string_view name, std::string_view help, std::uint64_t value, labels l) {
  family& f = open(name, help, kind::counter);
  append_series(f.samples, name, "", l);
  f.samples += fmt::format(" {}\n", value);
}

void metrics_writer::gauge(std::string_view name, std::string_view help, double value, labels l) {
  family& f = open(name, help, kind::gauge);
  append_series(f.samples, name, "", l);
  f.samples += ' ';
  f.samples += format_double(value);
  f.samples += '\n';
}

void metrics_writer::histogram(std::string_view name, std::string_view help, const latency_histogram::snapshot& h,
                               labels l) {
  family& f = open(name, help, kind::histogram);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_histogram::bucket_count; ++i) {
    cumulative += h.counts[i];
    const bool last = i + 1 == latency_histogram::bucket_count;
    const std::string le = last ? "+Inf" : format_double(latency_histogram::upper_seconds(i));
    append_series(f.samples, name, "_bucket", l, "le", le);
    f.samples += fmt::format(" {}\n", cumulative);
  }
  append_series(f.samples, name, "_sum", l);
  f.samples += ' ';
  f.samples += format_double(static_cast<double>(h.sum_ns) / 1e9);
  f.samples += '\n';
  append_series(f.samples, name, "_count", l);
  f.samples += fmt::format(" {}\n", cumulative);
}

std::string metrics_writer::text() const {
  std::string out;
  for (const family& f : families_) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE ";
    out += f.name;
    out += f.type == kind::counter ? " counter\n" : f.type == kind::gauge ? " gauge\n" : " histogram\n";
    out += f.samples;
  }
  return out;
}

} // namespace troupe
