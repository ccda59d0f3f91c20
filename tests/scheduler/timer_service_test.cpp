// Tests of troupe/scheduler/timer_service.hpp: one-shot, cancel, periodic,
// argument checks, ordering and stop.
//
// The timer thread fires in deadline order, so a later "sentinel" timer is a
// barrier: once it has fired, every earlier deadline has been dealt with.
// That lets the tests check that something did *not* happen without sleeping.
#include "troupe/scheduler/timer_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using troupe::test::gate;
using troupe::test::long_wait;

/// Schedules a sentinel `after` from now and waits for it to fire.
bool barrier(troupe::timer_service& ts, std::chrono::milliseconds after) {
  auto g = std::make_shared<gate>();
  ts.schedule_after(after, [g] { g->open(); });
  return g->wait_for(long_wait);
}

TEST(TimerService, OneShotFiresOnceAfterItsDelay) {
  troupe::timer_service ts;
  std::atomic<int> fired{0};
  gate g;
  clock_type::time_point fired_at{};
  const auto start = clock_type::now();
  auto h = ts.schedule_after(50ms, [&] {
    fired_at = clock_type::now();
    fired.fetch_add(1);
    g.open();
  });
  EXPECT_TRUE(h.active());
  ASSERT_TRUE(g.wait_for(long_wait));
  EXPECT_GE(fired_at - start, 50ms);
  EXPECT_LT(fired_at - start, 10s);
  ASSERT_TRUE(barrier(ts, 30ms));
  EXPECT_EQ(fired.load(), 1);
  EXPECT_FALSE(h.active()) << "a fired one-shot timer is no longer active";
}

TEST(TimerService, CancelPreventsFiring) {
  troupe::timer_service ts;
  std::atomic<int> fired{0};
  auto h = ts.schedule_after(30ms, [&] { fired.fetch_add(1); });
  h.cancel();
  EXPECT_FALSE(h.active());
  ASSERT_TRUE(barrier(ts, 80ms));
  EXPECT_EQ(fired.load(), 0);
}

TEST(TimerService, CopiesOfAHandleShareTheTimer) {
  troupe::timer_service ts;
  std::atomic<int> fired{0};
  auto h = ts.schedule_after(30ms, [&] { fired.fetch_add(1); });
  troupe::timer_handle copy = h;
  copy.cancel();
  EXPECT_FALSE(h.active());
  ASSERT_TRUE(barrier(ts, 80ms));
  EXPECT_EQ(fired.load(), 0);
}

TEST(TimerService, EmptyHandleIsInactiveAndCancelIsHarmless) {
  troupe::timer_handle h;
  EXPECT_FALSE(h.active());
  h.cancel();
  EXPECT_FALSE(h.active());
}

TEST(TimerService, PeriodicFiresRepeatedlyAndStopsAfterCancel) {
  troupe::timer_service ts;
  std::atomic<int> fired{0};
  const auto start = clock_type::now();
  auto h = ts.schedule_periodic(10ms, [&] { fired.fetch_add(1); });
  ASSERT_TRUE(troupe::test::wait_until([&] { return fired.load() >= 5; }, long_wait));
  EXPECT_GE(clock_type::now() - start, 50ms) << "five periods of 10 ms take at least 50 ms";
  EXPECT_TRUE(h.active());
  h.cancel();
  EXPECT_FALSE(h.active());
  const int at_cancel = fired.load();
  ASSERT_TRUE(barrier(ts, 100ms));  // ten more periods would have fired
  EXPECT_LE(fired.load(), at_cancel + 1) << "at most a call already running finishes";
}

TEST(TimerService, PeriodicCanBeCancelledFromItsOwnCallback) {
  troupe::timer_service ts;
  std::atomic<int> fired{0};
  auto holder = std::make_shared<troupe::timer_handle>();
  std::mutex mx;
  std::unique_lock lock(mx);  // keep the callback from reading *holder before it is set
  *holder = ts.schedule_periodic(5ms, [&, holder] {
    std::lock_guard l(mx);
    if (fired.fetch_add(1) + 1 == 3) holder->cancel();
  });
  lock.unlock();
  ASSERT_TRUE(troupe::test::wait_until([&] { return fired.load() >= 3; }, long_wait));
  ASSERT_TRUE(barrier(ts, 60ms));
  EXPECT_EQ(fired.load(), 3);
  *holder = {};  // the callback holds `holder`, which held the timer: break the cycle
}

TEST(TimerService, NegativeDelayThrows) {
  troupe::timer_service ts;
  EXPECT_THROW(ts.schedule_after(-1ms, [] {}), std::invalid_argument);
}

TEST(TimerService, ZeroDelayFires) {
  troupe::timer_service ts;
  gate g;
  ts.schedule_after(0ms, [&] { g.open(); });
  EXPECT_TRUE(g.wait_for(long_wait));
}

TEST(TimerService, NonPositivePeriodThrows) {
  troupe::timer_service ts;
  EXPECT_THROW(ts.schedule_periodic(0ms, [] {}), std::invalid_argument);
  EXPECT_THROW(ts.schedule_periodic(-5ms, [] {}), std::invalid_argument);
}

TEST(TimerService, ScheduleAtInThePastFiresPromptly) {
  troupe::timer_service ts;
  gate g;
  ts.schedule_at(clock_type::now() - 1s, [&] { g.open(); });
  EXPECT_TRUE(g.wait_for(long_wait));
}

TEST(TimerService, FiresInDeadlineOrder) {
  troupe::timer_service ts;
  std::mutex mx;
  std::vector<int> order;
  gate g;
  auto record = [&](int v) {
    std::lock_guard lock(mx);
    order.push_back(v);
    if (order.size() == 4) g.open();
  };
  const auto now = clock_type::now();
  ts.schedule_at(now + 80ms, [&] { record(4); });
  ts.schedule_at(now + 20ms, [&] { record(1); });
  ts.schedule_at(now + 60ms, [&] { record(3); });
  ts.schedule_at(now + 40ms, [&] { record(2); });
  ASSERT_TRUE(g.wait_for(long_wait));
  std::lock_guard lock(mx);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

TEST(TimerService, CallbackMayScheduleAnotherTimer) {
  troupe::timer_service ts;
  gate g;
  ts.schedule_after(1ms, [&] { ts.schedule_after(1ms, [&] { g.open(); }); });
  EXPECT_TRUE(g.wait_for(long_wait));
}

TEST(TimerService, StopDropsPendingTimersWithoutWaitingForThem) {
  std::atomic<int> fired{0};
  const auto start = clock_type::now();
  {
    troupe::timer_service ts;
    auto h = ts.schedule_after(60s, [&] { fired.fetch_add(1); });
    EXPECT_TRUE(h.active());
    ts.stop();
    ts.stop();  // idempotent
    auto late = ts.schedule_after(1ms, [&] { fired.fetch_add(1); });
    EXPECT_FALSE(late.active()) << "a timer added after stop never fires";
  }
  EXPECT_LT(clock_type::now() - start, 10s);
  EXPECT_EQ(fired.load(), 0);
}

TEST(TimerService, IdleTimerThreadBurnsNoCpu) {
  troupe::timer_service ts;
  ts.schedule_after(1h, [] {});  // a far deadline: the thread must sleep until it
  std::this_thread::sleep_for(100ms);
  const auto burnt = troupe::test::cpu_burnt_while_sleeping(500ms);
  EXPECT_LT(burnt, troupe::test::idle_cpu_budget);
}

TEST(TimerService, ACallbackThatThrowsIsCountedAndTheThreadGoesOn) {
  std::atomic<int> reported{0};
  troupe::timer_service ts([&](const char* what) {
    if (std::string(what) == "boom") reported.fetch_add(1);
  });
  ts.schedule_after(0ms, [] { throw std::runtime_error("boom"); });
  ASSERT_TRUE(barrier(ts, 5ms));  // a later timer still fires
  EXPECT_EQ(ts.failures(), 1u);
  EXPECT_EQ(reported.load(), 1);
}

TEST(TimerService, TheLongestDelaysNeverFireInsteadOfOverflowing) {
  troupe::timer_service ts;
  std::atomic<int> fired{0};
  ts.schedule_after(clock_type::duration::max(), [&] { fired.fetch_add(1); });
  ts.schedule_periodic(clock_type::duration::max(), [&] { fired.fetch_add(1); });
  ASSERT_TRUE(barrier(ts, 20ms));  // deadline order: an overflowed deadline would have fired first
  EXPECT_EQ(fired.load(), 0);
}

} // namespace
