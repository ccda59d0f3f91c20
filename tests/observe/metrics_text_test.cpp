// The Prometheus text writer and the latency histogram, alone.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "troupe/actors/metrics.hpp"

namespace {

using troupe::latency_histogram;
using troupe::metrics_writer;

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(MetricsText, SamplesOfOneFamilyFromSeveralSourcesShareOneHeader) {
  metrics_writer w;
  w.counter("troupe_x_total", "x things", 1, {{"k", "a"}});
  w.gauge("troupe_y", "y now", 2.5);
  w.counter("troupe_x_total", "x things", 3, {{"k", "b"}});
  const std::string t = w.text();
  EXPECT_EQ(count_of(t, "# HELP troupe_x_total x things\n"), 1u) << t;
  EXPECT_EQ(count_of(t, "# TYPE troupe_x_total counter\n"), 1u) << t;
  // Both samples directly under the family's header, before the next family.
  EXPECT_NE(t.find("# TYPE troupe_x_total counter\ntroupe_x_total{k=\"a\"} 1\ntroupe_x_total{k=\"b\"} 3\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("# TYPE troupe_y gauge\ntroupe_y 2.5\n"), std::string::npos) << t;
  EXPECT_EQ(w.family_count(), 2u);
}

TEST(MetricsText, LabelValuesAndHelpAreEscaped) {
  metrics_writer w;
  w.counter("troupe_z_total", "a \\ help\nline", 7, {{"peer", "a\"b\\c\nd"}});
  const std::string t = w.text();
  EXPECT_NE(t.find("# HELP troupe_z_total a \\\\ help\\nline\n"), std::string::npos) << t;
  EXPECT_NE(t.find("troupe_z_total{peer=\"a\\\"b\\\\c\\nd\"} 7\n"), std::string::npos) << t;
}

TEST(MetricsText, BadNamesAndAFamilyOfTwoKindsAreRefused) {
  metrics_writer w;
  EXPECT_THROW(w.counter("9bad", "", 1), std::invalid_argument);
  EXPECT_THROW(w.counter("bad-name", "", 1), std::invalid_argument);
  EXPECT_THROW(w.counter("troupe_ok_total", "", 1, {{"bad label", "v"}}), std::invalid_argument);
  w.counter("troupe_twice", "", 1);
  EXPECT_THROW(w.gauge("troupe_twice", "", 1), std::logic_error);
}

TEST(LatencyHistogram, BucketsDoubleFromOneMicrosecond) {
  EXPECT_EQ(latency_histogram::bucket_of(0), 0u);
  EXPECT_EQ(latency_histogram::bucket_of(1'000), 0u);     // 1 µs
  EXPECT_EQ(latency_histogram::bucket_of(1'001), 1u);     // just above: <= 2 µs
  EXPECT_EQ(latency_histogram::bucket_of(2'000), 1u);
  EXPECT_EQ(latency_histogram::bucket_of(3'000), 2u);     // <= 4 µs
  EXPECT_EQ(latency_histogram::bucket_of(1'000'000), 10u);  // 1 ms <= 1024 µs
  EXPECT_EQ(latency_histogram::bucket_of(~std::uint64_t{0} / 2), latency_histogram::bucket_count - 1);
  for (std::size_t i = 0; i + 1 < latency_histogram::bucket_count; ++i) {
    const auto bound_ns = static_cast<std::uint64_t>(std::llround(latency_histogram::upper_seconds(i) * 1e9));
    EXPECT_EQ(latency_histogram::bucket_of(bound_ns), i) << "a sample on a bound belongs to that bucket";
  }
}

TEST(LatencyHistogram, RendersCumulativeBucketsSumAndCount) {
  latency_histogram h;
  h.record(500);          // bucket 0
  h.record(1'500);        // bucket 1
  h.record(3'000'000);    // 3 ms: bucket 12 (<= 4096 µs)
  const auto s = h.read();
  EXPECT_EQ(s.count(), 3u);
  EXPECT_EQ(s.sum_ns, 3'002'000u);
  EXPECT_DOUBLE_EQ(s.quantile_bound(0.5), 2e-6);
  EXPECT_DOUBLE_EQ(s.quantile_bound(1.0), 4.096e-3);
  metrics_writer w;
  w.histogram("troupe_t_seconds", "t", s, {{"actor", "a"}});
  const std::string t = w.text();
  EXPECT_NE(t.find("# TYPE troupe_t_seconds histogram\n"), std::string::npos) << t;
  EXPECT_NE(t.find("troupe_t_seconds_bucket{actor=\"a\",le=\"1e-06\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("troupe_t_seconds_bucket{actor=\"a\",le=\"2e-06\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("troupe_t_seconds_bucket{actor=\"a\",le=\"+Inf\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("troupe_t_seconds_count{actor=\"a\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("troupe_t_seconds_sum{actor=\"a\"} 0.003002\n"), std::string::npos) << t;
}

} // namespace
