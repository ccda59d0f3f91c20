// Write-ahead spill mailboxes (spill_options::write_ahead): every message
// `tell` answered ok is on disk first, so a process killed (SIGKILL) while
// it sends and handles loses none of them; the ones not handled are
// delivered to the next spawn, flagged redelivered. The sync policies.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "actors/spill_actors.hpp"
#include "support/test_support.hpp"

namespace spill_test {
namespace {

/// What a write-ahead consumer saw, and where the parent reads the child's progress.
struct shared_progress {
  std::atomic<std::int64_t> acked{0};    ///< tells answered ok
  std::atomic<std::int64_t> handled{0};  ///< items handled (the child's consumer)
};

struct wal_report {
  report seen;
  std::int64_t redelivered = 0;      ///< items handled with redelivered() true
  std::int64_t last_redelivered = -1;
};

/// Counts items, checks their order (a redelivered one may repeat the last
/// handled before a crash), and how many came flagged redelivered.
struct wal_consumer : troupe::actor<wal_consumer> {
  using remote_interface = troupe::accepts<item>;
  explicit wal_consumer(shared_progress* progress = nullptr) : progress_(progress) {}
  void on(item i) {
    report& r = r_.seen;
    if (redelivered()) {
      ++r_.redelivered;
      r_.last_redelivered = i.seq;
    }
    if (r.count == 0) r.first = i.seq;
    if (r.count != 0 && i.seq != r.last + 1) r.in_order = false;
    r.last = i.seq;
    ++r.count;
    if (progress_ != nullptr) progress_->handled.store(r.count, std::memory_order_release);
  }
  wal_report on(get_report) { return r_; }
  shared_progress* progress_;
  wal_report r_;
};

troupe::spawn_options write_ahead(const fs::path& dir, troupe::spill_sync sync = troupe::spill_sync::none) {
  troupe::spawn_options o = spilling(dir, 64);
  o.dedicated_thread = false;
  o.mailbox.spill.write_ahead = true;
  o.mailbox.spill.sync = sync;
  return o;
}

/// The child: sends 0, 1, 2, ... to a write-ahead consumer (which handles
/// them meanwhile) and records each ok in `p`, until it is killed.
[[noreturn]] void send_until_killed(const fs::path& dir, shared_progress* p) {
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto c = sys.spawn_with<wal_consumer>(write_ahead(dir), p);
  for (std::int64_t i = 0;; ++i) {
    if (c.tell(item{i}) != troupe::send_result::ok) std::_Exit(4);
    p->acked.store(i + 1, std::memory_order_release);
  }
}

TEST(WriteAhead, EveryMessageToldOkSurvivesKill9AndTheUnhandledOnesComeBackFlagged) {
  temp_dir d;
  const fs::path dir = d.path() / "wal";
  void* mem = ::mmap(nullptr, sizeof(shared_progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* p = new (mem) shared_progress;
  const pid_t pid = ::fork();
  if (pid == 0) send_until_killed(dir, p);
  // Killed while it sends and handles, once both are well under way.
  const bool running = troupe::test::wait_until(
      [&] { return p->acked.load() > 20'000 && p->handled.load() > 1'000; }, troupe::test::long_wait);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(running) << "acked " << p->acked.load() << ", handled " << p->handled.load();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  const std::int64_t acked = p->acked.load();
  const std::int64_t handled = p->handled.load();
  ::munmap(mem, sizeof(shared_progress));

  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto c = sys.spawn_with<wal_consumer>(write_ahead(dir));
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  const report& seen = r.value().seen;
  ASSERT_GT(seen.count, 0) << "acked " << acked << ", handled " << handled;
  // Nothing lost: the recovered items take over where handling stopped (at
  // most the one being handled comes again) and reach past every ok.
  EXPECT_TRUE(seen.in_order);
  EXPECT_LE(seen.first, handled) << "a gap between what was handled and what came back";
  EXPECT_GE(seen.first, handled - 1) << "more than the one in hand came again";
  EXPECT_GE(seen.last, acked - 1) << "an item told ok was lost";
  EXPECT_LE(seen.last, acked) << "at most the one being told when killed is there without its ok";
  EXPECT_EQ(r.value().redelivered, seen.count) << "every recovered item is flagged";
  EXPECT_EQ(c.metrics().spill.lost, 0u);

  // New items after the recovery are not flagged.
  ASSERT_EQ(c.tell(item{seen.last + 1}), troupe::send_result::ok);
  auto after = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.value().seen.count, seen.count + 1);
  EXPECT_EQ(after.value().redelivered, seen.count);
}

TEST(WriteAhead, SyncPerBatchHasSyncedBeforeTellReturns) {
  temp_dir d;
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto c = sys.spawn_with<wal_consumer>(write_ahead(d.path() / "wal", troupe::spill_sync::per_batch));
  ASSERT_EQ(c.tell(item{0}), troupe::send_result::ok);
  EXPECT_GE(c.metrics().spill.syncs, 1u) << "the tell returned before its fdatasync";
  // Four senders at once: every item arrives in each sender's order.
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&c, t] {
      for (int i = 0; i < 100; ++i) EXPECT_EQ(c.tell(item{1 + t * 100 + i}), troupe::send_result::ok);
    });
  }
  for (auto& s : senders) s.join();
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().seen.count, 401);
  const auto m = c.metrics().spill;
  EXPECT_GE(m.syncs, 1u);
  EXPECT_LE(m.syncs, 401u);
  EXPECT_EQ(m.spilled, 401u) << "every message went through the disk";
}

TEST(WriteAhead, SyncIntervalSyncsOnATimer) {
  temp_dir d;
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto o = write_ahead(d.path() / "wal", troupe::spill_sync::interval);
  o.mailbox.spill.sync_interval = 10ms;
  auto c = sys.spawn_with<wal_consumer>(o);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(c.tell(item{i}), troupe::send_result::ok);
  EXPECT_TRUE(troupe::test::wait_until([&] { return c.metrics().spill.syncs >= 1; }, troupe::test::long_wait));
  auto r = c.ask(get_report{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().seen.count, 10);
  EXPECT_TRUE(r.value().seen.in_order);
}

TEST(WriteAhead, BadSyncOptionsAreRefusedAtSpawn) {
  temp_dir d;
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  auto o = spilling(d.path() / "a");
  o.mailbox.spill.sync = troupe::spill_sync::per_batch;  // without write_ahead
  EXPECT_THROW(sys.spawn_with<wal_consumer>(o), std::invalid_argument);
  o = write_ahead(d.path() / "b");
  o.mailbox.spill.fsync = true;
  EXPECT_THROW(sys.spawn_with<wal_consumer>(o), std::invalid_argument);
  o = write_ahead(d.path() / "c", troupe::spill_sync::interval);
  o.mailbox.spill.sync_interval = 0ms;
  EXPECT_THROW(sys.spawn_with<wal_consumer>(o), std::invalid_argument);
}

} // namespace
} // namespace spill_test
