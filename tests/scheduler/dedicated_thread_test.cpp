// Tests of troupe/scheduler/dedicated_thread.hpp: one resumable on a thread of its own.
#include "troupe/scheduler/dedicated_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "support/test_support.hpp"
#include "troupe/scheduler/resumable.hpp"

namespace {

using troupe::resumable;
using troupe::test::long_wait;

/// Each notify gives it `burst` turns (yielding in between); it records
/// the thread it ran on and reports every finished burst.
struct bursty : resumable {
  explicit bursty(int burst) : burst_(burst) {}
  result resume() override {
    {
      std::lock_guard lock(mx);
      ++turns;
      ran_on = std::this_thread::get_id();
      if (dt != nullptr) on_own_thread = on_own_thread && dt->on_this_thread();
      if (turns % burst_ != 0) return result::yield;
      ++bursts;
    }
    cv.notify_all();
    return result::idle;
  }
  bool wait_bursts(int n) {
    std::unique_lock lock(mx);
    return cv.wait_for(lock, long_wait, [&] { return bursts >= n; });
  }
  std::mutex mx;
  std::condition_variable cv;
  int turns = 0, bursts = 0;
  bool on_own_thread = true;
  std::thread::id ran_on{};
  troupe::dedicated_thread* dt = nullptr;

 private:
  int burst_;
};

TEST(DedicatedThread, RunsTurnsOnItsOwnThreadWhenNotified) {
  bursty r(3);
  troupe::dedicated_thread dt(&r);
  {
    std::lock_guard lock(r.mx);
    r.dt = &dt;
  }
  EXPECT_FALSE(dt.on_this_thread());
  EXPECT_FALSE(dt.finished());
  dt.notify();
  ASSERT_TRUE(r.wait_bursts(1));
  dt.notify();
  ASSERT_TRUE(r.wait_bursts(2));
  dt.finish();
  EXPECT_TRUE(dt.finished());
  std::lock_guard lock(r.mx);
  EXPECT_EQ(r.turns, 6);
  EXPECT_TRUE(r.on_own_thread);
  EXPECT_NE(r.ran_on, std::this_thread::get_id());
}

TEST(DedicatedThread, DestructorFinishesAndJoins) {
  bursty r(1);
  {
    troupe::dedicated_thread dt(&r);
    dt.notify();
    ASSERT_TRUE(r.wait_bursts(1));
  }  // joins here
  std::lock_guard lock(r.mx);
  EXPECT_EQ(r.turns, 1);
}

TEST(DedicatedThread, NoTurnWithoutNotify) {
  bursty r(1);
  {
    troupe::dedicated_thread dt(&r);
    dt.finish();
  }
  std::lock_guard lock(r.mx);
  EXPECT_EQ(r.turns, 0);
}

} // namespace
