// Tests of spawn_options{.dedicated_thread = true}: the actor runs on a
// thread of its own, so blocking there never stalls the pool's workers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"

namespace {

using namespace troupe::test::prelude;
using troupe::test::where;

std::thread::id thread_of(const actor_ref<recorder>& r) {
  auto res = r.ask(where{}, long_wait).get();
  EXPECT_TRUE(res.ok()) << res.message();
  return res.ok() ? res.value() : std::thread::id{};
}

TEST(DedicatedThread, BlockedDedicatedActorDoesNotStallThePool) {
  held_recorder h(system_config{.threads = 1});
  ASSERT_TRUE(h.hold());
  // The one worker is free: a normal actor answers while the other blocks.
  auto normal = h.sys.spawn<recorder>();
  auto r = normal.ask(where{}, long_wait).get();
  ASSERT_TRUE(r.ok()) << "a pool actor could not run while a dedicated actor blocked";
  h.release.open();
  EXPECT_TRUE(thread_of(h.r) != std::thread::id{});
}

TEST(DedicatedThread, RunsOnItsOwnThreadEveryTime) {
  actor_system sys(system_config{.threads = 1});
  auto normal = sys.spawn<recorder>();
  auto dedicated = sys.spawn_with<recorder>({.dedicated_thread = true});
  const auto worker = thread_of(normal);
  std::set<std::thread::id> ids;
  for (int i = 0; i < 20; ++i) ids.insert(thread_of(dedicated));
  ASSERT_EQ(ids.size(), 1u) << "a dedicated actor always runs on the same thread";
  const auto own = *ids.begin();
  EXPECT_NE(own, worker);
  EXPECT_NE(own, std::this_thread::get_id());
  EXPECT_EQ(thread_of(normal), worker);
}

TEST(DedicatedThread, TwoDedicatedActorsHaveDifferentThreads) {
  actor_system sys(system_config{.threads = 1});
  auto a = sys.spawn_with<recorder>({.dedicated_thread = true});
  auto b = sys.spawn_with<recorder>({.dedicated_thread = true});
  EXPECT_NE(thread_of(a), thread_of(b));
}

struct hooks : actor<hooks> {
  explicit hooks(actor_ref<troupe::inbox<std::thread::id>::actor_type> out) : out_(std::move(out)) {}
  void on_start() { out_.tell(std::this_thread::get_id()); }
  void on(where) { out_.tell(std::this_thread::get_id()); }
  void on_stop() { out_.tell(std::this_thread::get_id()); }
  actor_ref<troupe::inbox<std::thread::id>::actor_type> out_;
};

TEST(DedicatedThread, HooksRunOnTheDedicatedThreadToo) {
  actor_system sys(system_config{.threads = 1});
  troupe::inbox<std::thread::id> out(sys);
  auto h = sys.spawn_with<hooks>({.dedicated_thread = true}, out.ref());
  h.tell(where{});
  auto start = out.receive(long_wait), handler = out.receive(long_wait);
  h.stop();  // after the handler ran: the stop (system lane) would overtake a queued message
  auto stop = out.receive(long_wait);
  ASSERT_TRUE(start && handler && stop);
  EXPECT_EQ(*start, *handler);
  EXPECT_EQ(*stop, *handler);
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
}

TEST(DedicatedThread, ManyDedicatedActorsComeAndGo) {
  std::atomic<int> live{0};
  struct short_lived : actor<short_lived> {
    explicit short_lived(std::atomic<int>* live) : token_(live) {}
    int on(int x) {
      stop();
      return x + 1;
    }
    troupe::test::live_token token_;
  };
  actor_system sys(system_config{.threads = 1});
  const int n = static_cast<int>(troupe::test::scaled(100, 30));
  for (int i = 0; i < n; ++i) {
    auto a = sys.spawn_with<short_lived>({.dedicated_thread = true}, &live);
    auto r = a.ask(i, long_wait).get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), i + 1);
  }
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
  EXPECT_EQ(live.load(), 0);
  EXPECT_EQ(sys.stats().stopped, static_cast<std::uint64_t>(n));
}

TEST(DedicatedThread, ShutdownStopsABlockedDedicatedActorOnceReleased) {
  std::atomic<bool> shut{false};
  gate release, entered;
  {
    actor_system sys(system_config{.threads = 1});
    auto a = sys.spawn_with<recorder>({.dedicated_thread = true}, &release, &entered);
    ASSERT_TRUE(troupe::test::hold_actor(a, entered));
    auto down = std::async(std::launch::async, [&] {
      sys.shutdown();
      shut = true;
    });
    EXPECT_FALSE(shut.load()) << "shutdown cannot finish while the handler blocks";
    release.open();
    ASSERT_EQ(down.wait_for(long_wait), std::future_status::ready);
    EXPECT_TRUE(shut.load());
  }
}

/// Sends a message to itself from its constructor (documented as allowed:
/// "every member here may be called from ... its constructor").
struct self_starter : actor<self_starter> {
  self_starter() { defer(where{}); }
  void on(where) { ran_on = std::this_thread::get_id(); }
  std::thread::id on(troupe::test::get_seen) { return ran_on; }
  std::thread::id ran_on{};
};

TEST(DedicatedThread, MessageSentFromTheConstructorRunsOnTheDedicatedThread) {
  gate release, entered;
  actor_system sys(system_config{.threads = 1});
  // Keep the only worker busy so the spawn completes before anything runs.
  auto blocker = sys.spawn<recorder>(&release, &entered);
  gate_opener opener(release);
  ASSERT_TRUE(troupe::test::hold_actor(blocker, entered));
  auto s = sys.spawn_with<self_starter>({.dedicated_thread = true});
  release.open();
  const auto worker = thread_of(blocker);
  auto first = s.ask(troupe::test::get_seen{}, long_wait).get();  // where the constructor's message ran
  ASSERT_TRUE(first.ok());
  s.tell(where{});
  auto later = s.ask(troupe::test::get_seen{}, long_wait).get();  // where a later message ran
  ASSERT_TRUE(later.ok());
  EXPECT_NE(later.value(), worker);
  EXPECT_NE(first.value(), worker)
      << "BUG: a message an actor sends itself from its constructor is scheduled on the pool (actor_cell::"
         "schedule_hot runs before system_core::attach has set the dedicated executor), so its handler runs on "
         "a pool worker, not on the actor's dedicated thread";
}

} // namespace
