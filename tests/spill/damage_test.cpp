// What damage on disk loses, counted truly: every record lost to a bad
// spot (the rest of its segment), to a length that runs past the end of
// the last segment, or to a segment file deleted, is in
// store_stats::lost_records, so delivered + lost = appended - consumed.
// (The issue that asked for this saw 141 records lost with corrupt = 1,
// 140 with corrupt = 0, and 280 with no log line at all.)
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "spill/spill_test_support.hpp"
#include "support/captured_log.hpp"
#include "troupe/spill/store.hpp"

namespace {

using namespace troupe::spill;
using namespace troupe::spill::test;

/// Flips one bit of byte `at` of a file.
void flip(const std::filesystem::path& p, std::uint64_t at) {
  std::string b = read_bytes(p);
  b[at] ^= 0x10;
  write_bytes(p, b);
}

constexpr std::uint64_t n = records_per_segment;  // 56 records fill a segment

TEST(SpillDamage, AFlippedByteInAMiddleSegmentCountsTheRestOfThatSegmentLost) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 3 * n);
  }
  flip(segment_path(t, n), record_offset(20) + 30);  // record 76's payload
  troupe::test::captured_log log;
  auto s = store::open(small_options(t.path()));
  const auto delivered = drain_fixed(*s);
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  EXPECT_EQ(s->stats().lost_records, n - 20);  // 76..111
  EXPECT_EQ(delivered.size() + s->stats().lost_records, 3 * n);
  EXPECT_TRUE(log.contains("[error] troupe::spill: corrupt record in")) << "logged at error";
  EXPECT_TRUE(log.contains("36 record(s) lost"));
}

TEST(SpillDamage, AFlippedByteInTheLastSegmentCountsUpToItsLastGoodRecord) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 10);
  }
  flip(segment_path(t, 0), record_offset(4) + 30);
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  EXPECT_EQ(s->stats().lost_records, 6u);  // 4..9
  append_fixed(*s, 10, 12);                 // new records go past every sequence the file still shows
  EXPECT_EQ(drain_fixed(*s), range(0, 4) + range(10, 12));
}

TEST(SpillDamage, ALengthRunningPastTheEndOfTheLastSegmentIsDamageNotACutTail) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 10);
  }
  const auto seg = segment_path(t, 0);
  std::string b = read_bytes(seg);
  b[record_offset(4) + 2] = 0x7f;  // record 4's length: far past the end of the file
  write_bytes(seg, b);
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().truncated_tails, 0u) << "records 5..9 still check out after it: not a cut-off append";
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  EXPECT_EQ(s->stats().lost_records, 6u);
  EXPECT_EQ(drain_fixed(*s), range(0, 4));
}

TEST(SpillDamage, ACutOffAppendIsStillNoLoss) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 10);
  }
  std::filesystem::resize_file(segment_path(t, 0), record_offset(10) - 5);  // killed inside the 10th append
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().truncated_tails, 1u);
  EXPECT_EQ(s->stats().lost_records, 0u) << "that append never returned ok";
  EXPECT_EQ(drain_fixed(*s), range(0, 9));
}

TEST(SpillDamage, ADeletedSegmentIsFoundFromTheSequenceOfTheOnesLeftAndLogged) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 3 * n);
  }
  std::filesystem::remove(segment_path(t, n));
  troupe::test::captured_log log;
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().lost_records, n);
  EXPECT_EQ(s->stats().corrupt_records, 0u);
  EXPECT_EQ(drain_fixed(*s), range(0, n) + range(2 * n, 3 * n));
  EXPECT_TRUE(log.contains("[error] troupe::spill: records 56 to 111 are missing"));
}

TEST(SpillDamage, ADeletedFirstSegmentIsFoundFromTheCursor) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 2 * n);
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(s->front());
      s->pop();
    }
  }
  std::filesystem::remove(segment_path(t, 0));
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().lost_records, n - 10);  // 10..55; 0..9 were consumed
  EXPECT_EQ(drain_fixed(*s), range(n, 2 * n));
}

TEST(SpillDamage, DamageFoundOnReadIsCountedOnceAndNotAgainAtTheNextOpen) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 3 * n);
    flip(segment_path(t, 0), record_offset(30) + 30);  // while open: found when read
    std::vector<std::uint64_t> got;
    for (int i = 0; i < 40; ++i) {  // past the damage, into the second segment
      auto r = s->front();
      ASSERT_TRUE(r);
      got.push_back(r->sequence);
      s->pop();
    }
    EXPECT_EQ(got.back(), n + 39 - 30);
    EXPECT_EQ(s->stats().lost_records, n - 30);
  }
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().lost_records, 0u) << "the cursor was moved past the damage";
  EXPECT_EQ(s->size(), 3 * n - 30 - (n - 30) - 10);
}

TEST(SpillDamage, ACleanStoreReopenedLosesNothing) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 3 * n);
    for (std::uint64_t i = 0; i < n + 3; ++i) {
      ASSERT_TRUE(s->front());
      s->pop();
    }
  }
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().lost_records, 0u);
  EXPECT_EQ(s->stats().corrupt_records, 0u);
  EXPECT_EQ(drain_fixed(*s), range(n + 3, 3 * n));
}

} // namespace
