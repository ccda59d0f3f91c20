// Tests of what store::open finds in a directory an earlier store left:
// records and consumption after the store object is dropped and after the
// process is killed (fork + SIGKILL), corrupt records, truncated tails, a
// damaged cursor.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "spill/spill_test_support.hpp"
#include "troupe/spill/crc32c.hpp"
#include "troupe/spill/store.hpp"

namespace {

using namespace troupe::spill;
using namespace troupe::spill::test;


TEST(SpillRecovery, ReopenFindsEveryRecordInOrder) {
  temp_dir t;
  const std::uint64_t n = 3 * records_per_segment + 10;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, n);
  }  // dropped: no close or flush beyond what append did
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->size(), n);
  const store_stats st = s->stats();
  EXPECT_EQ(st.segments, 4u);
  EXPECT_EQ(st.bytes_on_disk, segment_bytes_in(t.path()));
  EXPECT_EQ(st.corrupt_records, 0u);
  EXPECT_EQ(st.truncated_tails, 0u);
  EXPECT_EQ(drain_fixed(*s), range(0, n));
  EXPECT_TRUE(segment_files(t.path()).empty());
}

TEST(SpillRecovery, ReopenResumesAfterTheLastPop) {
  temp_dir t;
  const std::uint64_t n = 3 * records_per_segment;
  const std::uint64_t k = records_per_segment + 5;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, n);
    for (std::uint64_t i = 0; i < k; ++i) s->pop();
    EXPECT_EQ(segment_files(t.path()).size(), 2u);  // the first one went with its last record
  }
  {
    auto s = store::open(small_options(t.path()));
    EXPECT_EQ(s->size(), n - k);
    EXPECT_EQ(s->front()->sequence, k);
    s->pop();
  }
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(drain_fixed(*s), range(k + 1, n));
}

TEST(SpillRecovery, AppendsGoOnInTheRecoveredLastSegment) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 10);
  }
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 10, 20);
    EXPECT_EQ(segment_files(t.path()).size(), 1u);
    s->pop();
  }
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(drain_fixed(*s), range(1, 20));
}

TEST(SpillRecovery, SequencesGoOnAfterADrainedStoreIsReopened) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 5);
    EXPECT_EQ(drain_fixed(*s), range(0, 5));
  }
  {
    auto s = store::open(small_options(t.path()));
    EXPECT_TRUE(s->empty());
    append_fixed(*s, 5, 6);  // must not be taken for a consumed record
  }
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(drain_fixed(*s), range(5, 6));
}

TEST(SpillRecovery, KilledProcessLosesNothingAndRedeliversNothing) {
  temp_dir t;
  constexpr std::uint64_t n = 300;
  constexpr std::uint64_t k = 123;  // past the first two segments
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: no gtest here, an exit code says what went wrong.
    try {
      auto s = store::open(small_options(t.path()));
      for (std::uint64_t i = 0; i < n; ++i) {
        if (s->append(fixed_type, fixed_payload(i)) != append_result::ok) ::_exit(2);
      }
      for (std::uint64_t i = 0; i < k; ++i) {
        auto r = s->front();
        if (!r || r->sequence != i) ::_exit(3);
        s->pop();
      }
      ::raise(SIGKILL);
    } catch (...) {
      ::_exit(4);
    }
    ::_exit(5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child exited with " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->size(), n - k);
  EXPECT_EQ(drain_fixed(*s), range(k, n));
  EXPECT_EQ(s->stats().corrupt_records, 0u);
  EXPECT_EQ(s->stats().truncated_tails, 0u);
  EXPECT_TRUE(segment_files(t.path()).empty());
}

/// Three full segments of fixed records (0..167), the store dropped.
void three_segments(const temp_dir& t) {
  auto s = store::open(small_options(t.path()));
  append_fixed(*s, 0, 3 * records_per_segment);
}

// Record 20 of the second segment (sequence 76) is bad: the first segment,
// the second's records 56..75 and the whole third segment come through.
const std::vector<std::uint64_t> expected_around_bad_76 =
    range(0, records_per_segment + 20) + range(2 * records_per_segment, 3 * records_per_segment);

TEST(SpillRecovery, FlippedByteInAMiddleRecordIsCountedAndNeverDelivered) {
  temp_dir t;
  three_segments(t);
  const auto seg = segment_path(t, records_per_segment);
  std::string bytes = read_bytes(seg);
  bytes[record_offset(20) + 30] ^= 0x04;  // in the payload
  write_bytes(seg, bytes);

  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  EXPECT_EQ(s->size(), expected_around_bad_76.size());
  EXPECT_EQ(drain_fixed(*s), expected_around_bad_76);
  EXPECT_EQ(s->stats().corrupt_records, 1u);  // counted once
  EXPECT_TRUE(segment_files(t.path()).empty());
}

TEST(SpillRecovery, CorruptionThatAppearsWhileOpenIsFoundOnRead) {
  temp_dir t;
  auto s = store::open(small_options(t.path()));
  append_fixed(*s, 0, 3 * records_per_segment);
  {
    const auto seg = segment_path(t, records_per_segment);
    std::string bytes = read_bytes(seg);
    bytes[record_offset(20) + 10] ^= 0x01;  // in the sequence number
    write_bytes(seg, bytes);
  }
  EXPECT_EQ(s->stats().corrupt_records, 0u);
  EXPECT_EQ(drain_fixed(*s), expected_around_bad_76);
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  EXPECT_TRUE(s->empty());
  EXPECT_TRUE(segment_files(t.path()).empty());
}

TEST(SpillRecovery, ImpossibleLengthIsCorrupt) {
  temp_dir t;
  three_segments(t);
  const auto seg = segment_path(t, records_per_segment);
  std::string bytes = read_bytes(seg);
  bytes[record_offset(20)] = 3;  // length 3 < the 10 bytes every record has
  bytes[record_offset(20) + 1] = bytes[record_offset(20) + 2] = bytes[record_offset(20) + 3] = 0;
  write_bytes(seg, bytes);
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  EXPECT_EQ(drain_fixed(*s), expected_around_bad_76);
}

TEST(SpillRecovery, SequenceOutOfOrderWithAValidChecksumIsCorrupt) {
  temp_dir t;
  three_segments(t);
  const auto seg = segment_path(t, records_per_segment);
  std::string bytes = read_bytes(seg);
  // Rewrite record 20's sequence to 75 (a repeat of the one before) and fix its checksum.
  auto* rec = reinterpret_cast<unsigned char*>(bytes.data() + record_offset(20));
  rec[8] = 75;
  const std::uint32_t crc = crc32c(rec + 8, fixed_record_bytes - 8, crc32c(rec, 4));
  for (int i = 0; i < 4; ++i) rec[4 + i] = static_cast<unsigned char>(crc >> (8 * i));
  write_bytes(seg, bytes);
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  EXPECT_EQ(drain_fixed(*s), expected_around_bad_76);
}

TEST(SpillRecovery, BadSegmentHeaderLosesOnlyThatSegment) {
  temp_dir t;
  three_segments(t);
  const auto seg = segment_path(t, records_per_segment);
  std::string bytes = read_bytes(seg);
  bytes[0] = 'X';
  write_bytes(seg, bytes);
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  EXPECT_EQ(drain_fixed(*s), range(0, records_per_segment) + range(2 * records_per_segment, 3 * records_per_segment));
}

TEST(SpillRecovery, TruncatedTailIsCutAwayAndCounted) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 10);
  }
  // A process killed in the middle of writing record 9.
  const auto seg = segment_path(t, 0);
  std::filesystem::resize_file(seg, record_offset(10) - 5);
  {
    auto s = store::open(small_options(t.path()));
    EXPECT_EQ(s->stats().truncated_tails, 1u);
    EXPECT_EQ(s->stats().corrupt_records, 0u);
    EXPECT_EQ(s->size(), 9u);
    EXPECT_EQ(std::filesystem::file_size(seg), record_offset(9));
    append_fixed(*s, 9, 12);  // appends go on after the cut
  }
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().truncated_tails, 0u);
  EXPECT_EQ(drain_fixed(*s), range(0, 12));
}

TEST(SpillRecovery, TailCutInsideARecordHeaderIsATruncatedTail) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 4);
  }
  std::filesystem::resize_file(segment_path(t, 0), record_offset(4) + 7);  // 7 bytes of a fifth header
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().truncated_tails, 1u);
  EXPECT_EQ(drain_fixed(*s), range(0, 4));
}

TEST(SpillRecovery, EmptySegmentFileLeftByACrashIsRemoved) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, records_per_segment);
  }
  write_bytes(segment_path(t, records_per_segment), "");  // killed between creating and writing it
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(s->stats().truncated_tails, 0u);
  EXPECT_EQ(s->stats().corrupt_records, 0u);
  EXPECT_EQ(segment_files(t.path()).size(), 1u);
  append_fixed(*s, records_per_segment, records_per_segment + 1);
  EXPECT_EQ(drain_fixed(*s), range(0, records_per_segment + 1));
}

TEST(SpillRecovery, DamagedCursorDeliversAgainRatherThanLoses) {
  temp_dir t;
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 5);
    s->pop();
    s->pop();
  }
  write_bytes(t.path() / "cursor", std::string(600, '\x5a'));
  auto s = store::open(small_options(t.path()));
  EXPECT_EQ(drain_fixed(*s), range(0, 5));
}

TEST(SpillRecovery, OtherFilesInTheDirectoryAreLeftAlone) {
  temp_dir t;
  write_bytes(t.path() / "notes.txt", "keep me");
  write_bytes(t.path() / "123.seg", "not a segment name");
  {
    auto s = store::open(small_options(t.path()));
    append_fixed(*s, 0, 3);
    EXPECT_EQ(drain_fixed(*s), range(0, 3));
  }
  auto s = store::open(small_options(t.path()));
  EXPECT_TRUE(s->empty());
  EXPECT_EQ(read_bytes(t.path() / "notes.txt"), "keep me");
  EXPECT_TRUE(std::filesystem::exists(t.path() / "123.seg"));
}

} // namespace
