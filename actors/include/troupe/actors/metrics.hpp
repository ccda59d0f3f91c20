#pragma once
/// @file Metrics in the Prometheus text exposition format (version 0.0.4):
/// the families a running system exports, and the writer its sources fill.
///
/// Who calls what: `actor_system::metrics_text()` renders every source; a
/// source (the system itself, a node, a user's own) is a callback given to
/// `actor_system::add_metrics_source` that writes its families into a
/// `metrics_writer`. Nothing here does I/O: an endpoint (troupe::observe)
/// serves the text.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace troupe {

/// A latency histogram with fixed log buckets: bucket i holds samples of at
/// most 2^i microseconds (1 µs .. about 4.2 s), the last everything above.
/// One writer (the thread that records), any number of readers; recording
/// is three relaxed stores, no allocation, no lock.
class latency_histogram {
 public:
  static constexpr std::size_t bucket_count = 24;  ///< 23 bounded buckets and +Inf

  /// Upper bound of bucket `i` in seconds (`i < bucket_count - 1`).
  [[nodiscard]] static constexpr double upper_seconds(std::size_t i) noexcept {
    return static_cast<double>(std::uint64_t{1} << i) * 1e-6;
  }
  /// The bucket a sample of `ns` nanoseconds falls into.
  [[nodiscard]] static constexpr std::size_t bucket_of(std::uint64_t ns) noexcept {
    const std::uint64_t us = (ns + 999) / 1000;  // rounded up: 1..1000 ns is bucket 0
    const std::size_t b = us <= 1 ? 0 : static_cast<std::size_t>(std::bit_width(us - 1));
    return b < bucket_count ? b : bucket_count - 1;
  }

  /// Records one sample. @note One thread at a time (the actor's own turn).
  void record(std::uint64_t ns) noexcept {
    auto& b = counts_[bucket_of(ns)];
    b.store(b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum_ns_.store(sum_ns_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
  }

  /// What a reader sees: per-bucket counts (not cumulative) and the sum.
  struct snapshot {
    std::array<std::uint64_t, bucket_count> counts{};
    std::uint64_t sum_ns = 0;
    [[nodiscard]] std::uint64_t count() const noexcept {
      std::uint64_t n = 0;
      for (auto c : counts) n += c;
      return n;
    }
    /// The smallest bucket bound under which a fraction `q` of samples
    /// falls, in seconds (+Inf as the last bound's double); 0 when empty.
    [[nodiscard]] double quantile_bound(double q) const noexcept;
  };
  /// @threadsafe (the figures are read one after another).
  [[nodiscard]] snapshot read() const noexcept {
    snapshot s;
    for (std::size_t i = 0; i < bucket_count; ++i) s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, bucket_count> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// Collects metric families and renders them as Prometheus text. Samples of
/// one family may come from several sources in any order: the text groups
/// them under one `# HELP` and `# TYPE`. Family names follow Prometheus
/// conventions (`troupe_..._total` for counters, `_seconds`, `_bytes`).
/// @note One thread at a time (a scrape).
class metrics_writer {
 public:
  /// Label name and value; values are escaped as the format requires.
  using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  /// A monotonically increasing count.
  void counter(std::string_view family, std::string_view help, std::uint64_t value, labels l = {});
  /// A value that goes up and down.
  void gauge(std::string_view family, std::string_view help, double value, labels l = {});
  /// A latency histogram, as `_bucket{le=...}`, `_sum` (seconds) and `_count`.
  void histogram(std::string_view family, std::string_view help, const latency_histogram::snapshot& h, labels l = {});

  /// Every family, in the order each was first written.
  [[nodiscard]] std::string text() const;
  /// Families written so far.
  [[nodiscard]] std::size_t family_count() const noexcept { return families_.size(); }

 private:
  enum class kind : unsigned char { counter, gauge, histogram };
  struct family {
    std::string name;
    std::string help;
    kind type;
    std::string samples;
  };
  family& open(std::string_view name, std::string_view help, kind type);

  std::vector<family> families_;
  std::unordered_map<std::string, std::size_t> index_;
};

/// A callback that writes some families; see actor_system::add_metrics_source.
using metrics_source = std::function<void(metrics_writer&)>;

} // namespace troupe
