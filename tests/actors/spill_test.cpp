// The spill overflow policy: past its memory capacity a mailbox writes to
// disk, the actor still gets every message in order, the files go once
// consumed; a full disk applies the second policy; durable spills survive
// kill -9 of the process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <semaphore>
#include <string>
#include <vector>

#include "support/span_log.hpp"
#include "support/temp_dir.hpp"
#include "support/test_support.hpp"
#include "troupe/troupe.hpp"

#include "actors/spill_actors.hpp"

namespace spill_test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using troupe::test::temp_dir;

TEST(SpillMailbox, EveryMessageArrivesInOrderThroughTheDiskAndTheFilesGo) {
  temp_dir d;
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  std::binary_semaphore open(0);
  auto c = sys.spawn_with<consumer>(spilling(d.path() / "c"));
  c.tell(gate{&open});
  const std::int64_t n = 5000;
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(c.tell(item{i}), troupe::send_result::ok) << i;
  EXPECT_GT(segment_files(d.path() / "c"), 0u) << "past 8 in memory, the rest is on disk";
  const auto during = c.metrics();
  EXPECT_LE(during.depth, 8u) << "memory holds the capacity";
  EXPECT_EQ(during.capacity, 8u);
  EXPECT_GT(during.spill.spilled, n - 10);
  EXPECT_EQ(during.spill.on_disk, during.spill.spilled);
  EXPECT_GT(during.spill.disk_bytes, 0u);
  open.release();
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value().count, n);
  EXPECT_EQ(r.value().first, 0);
  EXPECT_EQ(r.value().last, n - 1);
  EXPECT_TRUE(r.value().in_order);
  EXPECT_TRUE(troupe::test::wait_until([&] { return segment_files(d.path() / "c") == 0; }, troupe::test::long_wait));
  EXPECT_EQ(sys.stats().total_dead(), 0u);
  const auto after = c.metrics();
  EXPECT_EQ(after.spill.unspooled, during.spill.spilled);
  EXPECT_EQ(after.spill.on_disk, 0u);
  EXPECT_EQ(after.spill.disk_bytes, 0u);
  EXPECT_GE(after.spill.max_disk_bytes, during.spill.disk_bytes);
  // Once drained, messages go to memory again.
  for (std::int64_t i = n; i < n + 4; ++i) ASSERT_EQ(c.tell(item{i}), troupe::send_result::ok);
  EXPECT_EQ(c.ask(get_report{}, troupe::test::long_wait).get().value().count, n + 4);
  EXPECT_EQ(segment_files(d.path() / "c"), 0u);
}

TEST(SpillMailbox, WithoutDurabilityEveryMessageLeftAtStopIsADeadLetter) {
  temp_dir d;
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  std::binary_semaphore open(0), entered(0);
  auto c = sys.spawn_with<consumer>(spilling(d.path() / "c"));  // durable is off
  c.tell(gate{&open, &entered});
  ASSERT_TRUE(entered.try_acquire_for(troupe::test::long_wait));  // the gate is taken: not among what is left
  const std::int64_t n = 1000;
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(c.tell(item{i}), troupe::send_result::ok) << i;
  ASSERT_GT(c.metrics().spill.on_disk, 0u);
  c.stop();
  open.release();  // the gate's handler returns, the stop is served next
  // In memory, read back or still on disk: each one is counted.
  EXPECT_TRUE(troupe::test::wait_until(
      [&] { return sys.stats().dead(troupe::drop_reason::receiver_stopped) == static_cast<std::uint64_t>(n); },
      troupe::test::long_wait))
      << sys.stats().dead(troupe::drop_reason::receiver_stopped) << " of " << n;
}

TEST(SpillMailbox, AFullDiskWithFailRefusesTheRestAndCountsIt) {
  temp_dir d;
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  std::binary_semaphore open(0);
  auto o = spilling(d.path() / "c");
  o.mailbox.spill.segment_bytes = 4096;
  o.mailbox.spill.disk_capacity_bytes = 8192;
  o.mailbox.spill.on_disk_full = overflow::fail;
  auto c = sys.spawn_with<consumer>(o);
  c.tell(gate{&open});
  std::int64_t accepted = 0, refused = 0, last_accepted = -1;
  for (std::int64_t i = 0; i < 5000; ++i) {
    const auto r = c.tell(item{i});
    if (r == troupe::send_result::ok) {
      ++accepted;
      last_accepted = i;
    } else {
      ASSERT_EQ(r, troupe::send_result::full);
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::mailbox_full), static_cast<std::uint64_t>(refused));
  open.release();
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value().count, accepted);
  EXPECT_EQ(r.value().last, last_accepted);
}

/// Sends n items as fast as it may; reports to the test the first time it is muted.
struct flooder : troupe::actor<flooder> {
  struct go {};
  flooder(troupe::actor_ref<consumer> to, std::int64_t n, std::binary_semaphore* muted)
      : to_(std::move(to)), n_(n), muted_(muted) {}
  void on(go) {
    while (next_ < n_) {
      if (to_.tell(item{next_++}) == troupe::send_result::muted) {
        if (!told_) muted_->release();
        told_ = true;
        break;
      }
    }
    if (next_ < n_) defer(go{});
  }
  troupe::actor_ref<consumer> to_;
  std::int64_t n_;
  std::int64_t next_ = 0;
  std::binary_semaphore* muted_;
  bool told_ = false;
};

TEST(SpillMailbox, AFullDiskWithMuteSenderMutesTheSenderAndLosesNothing) {
  temp_dir d;
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  std::binary_semaphore open(0), muted(0);
  auto o = spilling(d.path() / "c");
  o.mailbox.spill.segment_bytes = 4096;
  o.mailbox.spill.disk_capacity_bytes = 8192;
  auto c = sys.spawn_with<consumer>(o);
  c.tell(gate{&open});
  const std::int64_t n = 20000;
  auto f = sys.spawn<flooder>(c, n, &muted);
  f.tell(flooder::go{});
  ASSERT_TRUE(muted.try_acquire_for(troupe::test::long_wait)) << "the sender is muted once memory and disk are full";
  EXPECT_TRUE(troupe::test::wait_until([&] { return c.metrics().muted_senders == 1; }, troupe::test::long_wait));
  EXPECT_GT(c.metrics().spill.held, 0u);
  open.release();
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  // The ask may overtake the flooder's last messages: wait for all of them.
  std::int64_t count = r.value().count;
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        auto q = c.ask(get_report{}, troupe::test::long_wait).get();
        if (!q.ok() || !q.value().in_order) return true;
        count = q.value().count;
        return count == n;
      },
      troupe::test::long_wait));
  auto last = c.ask(get_report{}, troupe::test::long_wait).get();
  EXPECT_EQ(last.value().count, n);
  EXPECT_TRUE(last.value().in_order);
  EXPECT_EQ(last.value().last, n - 1);
  EXPECT_EQ(sys.stats().total_dead(), 0u);
}

TEST(SpillMailbox, ActorsWithoutSerialisableMessagesCannotSpill) {
  temp_dir d;
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  troupe::spawn_options o;
  o.mailbox.policy = overflow::spill;
  o.mailbox.spill.dir = d.path().string();
  EXPECT_THROW(sys.spawn_with<plain>(o), std::invalid_argument);
}

TEST(SpillMailbox, BadSpillOptionsAreRefusedAtSpawn) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  troupe::spawn_options o;
  o.mailbox.policy = overflow::spill;
  EXPECT_THROW(sys.spawn_with<consumer>(o), std::invalid_argument) << "no directory";
  o.mailbox.spill.dir = "/tmp/x";
  o.mailbox.spill.on_disk_full = overflow::drop_newest;
  EXPECT_THROW(sys.spawn_with<consumer>(o), std::invalid_argument) << "a disk policy that loses messages";
  o.mailbox.spill.on_disk_full = overflow::fail;
  o.mailbox.spill.disk_capacity_bytes = 100;
  EXPECT_THROW(sys.spawn_with<consumer>(o), std::invalid_argument) << "less disk than one segment";
  EXPECT_EQ(troupe::parse_overflow("spill"), overflow::spill);
}

/// In a child process: spills `n` items behind a closed gate, reports how
/// many went to disk on `ready`, and waits to be killed.
[[noreturn]] void spill_and_wait(const fs::path& dir, std::int64_t n, int ready, std::uint64_t segment_bytes,
                                 std::int64_t halt) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  auto o = spilling(dir);
  o.mailbox.spill.durable = true;
  o.mailbox.spill.segment_bytes = segment_bytes;
  std::binary_semaphore never(0), open(0);
  auto c = sys.spawn_with<consumer>(o);
  c.tell(gate{&open});
  if (halt >= 0) c.tell(halt_at{halt, ready, &never});
  for (std::int64_t i = 0; i < n; ++i) c.tell(item{i});
  if (halt >= 0) {
    open.release();  // it handles items up to `halt`, says so on `ready`, and stays there
  } else {
    const auto text = std::to_string(c.metrics().spill.spilled) + "\n";
    if (::write(ready, text.data(), text.size()) < 0) std::_Exit(2);
  }
  ::pause();
  std::_Exit(3);
}

/// Forks a child that spills and is killed with SIGKILL; returns how many
/// items it had on disk.
/// Forks a child that spills (and, with `halt`, consumes up to item
/// `halt`) and is killed with SIGKILL; returns how many items it had put on
/// disk (0 with `halt`).
std::int64_t spill_in_a_killed_child(const fs::path& dir, std::int64_t n, std::uint64_t segment_bytes = 4u << 20,
                                     std::int64_t halt = -1) {
  int p[2];
  if (::pipe(p) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    spill_and_wait(dir, n, p[1], segment_bytes, halt);
  }
  ::close(p[1]);
  std::string got;
  char buf[64];
  ssize_t k;
  while (got.find('\n') == std::string::npos && (k = ::read(p[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(k));
  ::close(p[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  if (halt >= 0) return got == "halted\n" ? 0 : -1;
  return got.empty() ? -1 : std::stoll(got);
}

TEST(SpillMailbox, DurableSpillSurvivesKill9AndIsDeliveredInOrderToTheNextSpawn) {
  temp_dir d;
  const std::int64_t n = 3000;
  const std::int64_t on_disk = spill_in_a_killed_child(d.path() / "durable", n);
  ASSERT_GT(on_disk, 0);
  ASSERT_LT(on_disk, n);
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto o = spilling(d.path() / "durable");
  o.mailbox.spill.durable = true;
  auto c = sys.spawn_with<consumer>(o);
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  // What was in memory died with the process; every spilled item arrives.
  EXPECT_EQ(r.value().count, on_disk);
  EXPECT_EQ(r.value().first, n - on_disk);
  EXPECT_EQ(r.value().last, n - 1);
  EXPECT_TRUE(r.value().in_order);
  EXPECT_TRUE(troupe::test::wait_until([&] { return segment_files(d.path() / "durable") == 0; }, troupe::test::long_wait));
}

TEST(SpillMailbox, AProcessKilledWhileDeliveringFromDiskLosesNothingAfterIt) {
  temp_dir d;
  const std::int64_t n = 3000, halt = 1000;
  ASSERT_EQ(spill_in_a_killed_child(d.path() / "mid", n, 4096, halt), 0);
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto o = spilling(d.path() / "mid");
  o.mailbox.spill.durable = true;
  o.mailbox.spill.segment_bytes = 4096;
  auto c = sys.spawn_with<consumer>(o);
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  // Items before `halt` were handled; `halt` was being handled (so it comes
  // again); everything after it was still on disk.
  EXPECT_EQ(r.value().first, halt);
  EXPECT_EQ(r.value().last, n - 1);
  EXPECT_EQ(r.value().count, n - halt);
  EXPECT_TRUE(r.value().in_order);
}

/// A durable spill on `dir` with 4 KiB segments (what spill_in_a_killed_child(dir, n, 4096) left).
troupe::spawn_options durable_small_segments(const fs::path& dir) {
  auto o = spilling(dir);
  o.mailbox.spill.durable = true;
  o.mailbox.spill.segment_bytes = 4096;
  return o;
}

/// The segment files in `dir`, oldest first.
std::vector<fs::path> sorted_segments(const fs::path& dir) {
  std::vector<fs::path> segments;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") segments.push_back(e.path());
  }
  std::sort(segments.begin(), segments.end());
  return segments;
}

TEST(SpillMailbox, ACorruptRecordIsCountedAndNeverDeliveredTheRestArrives) {
  temp_dir d;
  const std::int64_t n = 3000;
  const fs::path dir = d.path() / "corrupt";
  const std::int64_t on_disk = spill_in_a_killed_child(dir, n, 4096);
  ASSERT_GT(on_disk, 0);
  // Flip a byte in the middle of the second segment file (of many).
  const std::vector<fs::path> segments = sorted_segments(dir);
  ASSERT_GE(segments.size(), 3u);
  {
    std::fstream f(segments[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(segments[1]) / 2));
    f.put('\x7f');
  }
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto c = sys.spawn_with<consumer>(durable_small_segments(dir));
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_GE(c.metrics().spill.corrupt, 1u);
  EXPECT_LT(r.value().count, on_disk) << "what followed the bad record in its file is not trusted";
  EXPECT_GT(r.value().count, 0);
  EXPECT_TRUE(r.value().increasing) << "never a garbled, repeated or reordered message";
  EXPECT_EQ(r.value().last, n - 1) << "the later files are delivered";
  // Every message lost with the damaged stretch is counted: delivered + lost = what was on disk.
  EXPECT_EQ(r.value().count + static_cast<std::int64_t>(c.metrics().spill.lost), on_disk);
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::spill_damaged), c.metrics().spill.lost);
}

TEST(SpillMailbox, ADeletedSpillFileIsCountedLostAndTheRestArrives) {
  temp_dir d;
  const std::int64_t n = 3000;
  const fs::path dir = d.path() / "deleted";
  const std::int64_t on_disk = spill_in_a_killed_child(dir, n, 4096);
  const std::vector<fs::path> segments = sorted_segments(dir);
  ASSERT_GE(segments.size(), 3u);
  fs::remove(segments[1]);
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto c = sys.spawn_with<consumer>(durable_small_segments(dir));
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  const auto lost = c.metrics().spill.lost;
  EXPECT_GT(lost, 0u);
  EXPECT_EQ(r.value().count + static_cast<std::int64_t>(lost), on_disk) << "delivered + lost = what was on disk";
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::spill_damaged), lost);
  EXPECT_EQ(r.value().last, n - 1);
}

TEST(SpillMailbox, ATracedMessageKeepsItsTraceThroughTheDisk) {
  // Each handling of a traced message is a span of the sender's trace,
  // whether the message waited in memory or on disk; untraced ones stay so.
  temp_dir d;
  troupe::test::span_log log;
  troupe::actor_system sys(troupe::system_config{.threads = 2, .on_message_span = log.hook()});
  std::binary_semaphore open(0);
  auto c = sys.spawn_with<consumer>(spilling(d.path() / "c"));
  c.tell(gate{&open});
  const troupe::trace_context root = troupe::trace_context::new_trace();
  const std::int64_t n = 200;  // 8 in memory, the rest on disk
  {
    troupe::trace_scope scope(root);
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(c.tell(item{i}), troupe::send_result::ok) << i;
  }
  for (std::int64_t i = n; i < n + 20; ++i) ASSERT_EQ(c.tell(item{i}), troupe::send_result::ok) << i;
  ASSERT_GT(c.metrics().spill.spilled, static_cast<std::uint64_t>(n + 20 - 10)) << "past 8 in memory, the rest on disk";
  open.release();
  // Spans are reported as each handler returns: all of them before this ask's.
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r.value().count, n + 20);
  const auto spans = log.all_of<item>();
  EXPECT_EQ(spans.size(), static_cast<std::size_t>(n)) << "every traced item, none of the untraced";
  for (const auto& s : spans) {
    EXPECT_EQ(s.context.trace_id, root.trace_id);
    EXPECT_EQ(s.parent_span_id, root.span_id);
  }
}

TEST(SpillMailbox, WithoutDurabilityWhatAnEarlierRunLeftIsDiscardedNotDelivered) {
  temp_dir d;
  ASSERT_GT(spill_in_a_killed_child(d.path() / "c", 500), 0);
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto c = sys.spawn_with<consumer>(spilling(d.path() / "c"));  // durable is off
  c.tell(item{7});
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().count, 1);
  EXPECT_EQ(r.value().first, 7);
  EXPECT_EQ(segment_files(d.path() / "c"), 0u);
}

} // namespace
} // namespace spill_test
