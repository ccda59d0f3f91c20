// Tests of troupe/scheduler/thread_pool.hpp: running resumables, scheduling
// from inside and outside, many resumables, idle workers burning no CPU.
#include "troupe/scheduler/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/test_support.hpp"
#include "troupe/scheduler/resumable.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::resumable;
using troupe::test::long_wait;

/// Counts completions and lets the test wait for a number of them.
struct completion {
  std::mutex mx;
  std::condition_variable cv;
  std::size_t done = 0;
  void add() {
    std::lock_guard lock(mx);
    ++done;
    cv.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mx);
    return cv.wait_for(lock, timeout, [&] { return done >= n; });
  }
};

/// Takes `turns` turns (yielding in between), then reports completion.
struct counting : resumable {
  counting(std::size_t turns, completion* c) : turns_(turns), c_(c) {}
  result resume() override {
    const std::size_t n = ++taken;
    if (running.exchange(true)) overlap = true;
    threads.insert(std::this_thread::get_id());
    running.store(false);
    if (n < turns_) return result::yield;
    c_->add();
    return result::idle;
  }
  std::size_t taken = 0;  // only touched by the one thread running a turn
  std::atomic<bool> running{false};
  std::atomic<bool> overlap{false};
  std::set<std::thread::id> threads;

 private:
  std::size_t turns_;
  completion* c_;
};

/// Runs `fn` in its one turn.
template <class F>
struct once : resumable {
  explicit once(F f) : fn(std::move(f)) {}
  result resume() override {
    fn();
    return result::idle;
  }
  F fn;
};
template <class F>
once(F) -> once<F>;

TEST(ThreadPool, OptionsValidate) {
  EXPECT_THROW(troupe::thread_pool(troupe::pool_options{.threads = 1025}), std::invalid_argument);
  EXPECT_NO_THROW(troupe::pool_options{.threads = 1024}.validate());
}

TEST(ThreadPool, ZeroThreadsMeansOnePerCore) {
  troupe::thread_pool pool(troupe::pool_options{.threads = 0});
  EXPECT_EQ(pool.size(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(ThreadPool, RunsAResumableUntilIdle) {
  completion c;
  counting r(10, &c);
  troupe::thread_pool pool(troupe::pool_options{.threads = 2});
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_FALSE(pool.on_worker());
  pool.schedule(&r);
  ASSERT_TRUE(c.wait_for(1, long_wait));
  pool.stop();  // joins: nothing may touch r after this
  EXPECT_EQ(r.taken, 10u) << "yield re-queues, idle forgets";
  EXPECT_FALSE(r.overlap.load()) << "two turns ran at once";
  EXPECT_GE(pool.stats().injected, 1u);
}

TEST(ThreadPool, ScheduleFromAWorkerRunsTheTarget) {
  completion c;
  counting target(3, &c);
  troupe::thread_pool pool(troupe::pool_options{.threads = 2});
  std::atomic<bool> was_on_worker{false};
  once starter([&] {
    was_on_worker = pool.on_worker();
    pool.schedule(&target);
  });
  pool.schedule(&starter);
  ASSERT_TRUE(c.wait_for(1, long_wait));
  pool.stop();
  EXPECT_TRUE(was_on_worker.load());
  EXPECT_EQ(target.taken, 3u);
}

TEST(ThreadPool, ScheduleHotFromAWorkerAndFromOutside) {
  completion c;
  counting hot(2, &c), outside(2, &c);
  troupe::thread_pool pool(troupe::pool_options{.threads = 2});
  once starter([&] { pool.schedule_hot(&hot); });
  pool.schedule(&starter);
  pool.schedule_hot(&outside);  // not a worker: falls back to schedule
  ASSERT_TRUE(c.wait_for(2, long_wait));
  pool.stop();
  EXPECT_EQ(hot.taken, 2u);
  EXPECT_EQ(outside.taken, 2u);
}

TEST(ThreadPool, HotHandOffRunsOnTheSameWorker) {
  completion c;
  std::thread::id starter_thread, target_thread;
  once target([&] {
    target_thread = std::this_thread::get_id();
    c.add();
  });
  troupe::thread_pool pool(troupe::pool_options{.threads = 2});
  once starter([&] {
    starter_thread = std::this_thread::get_id();
    pool.schedule_hot(&target);
  });
  pool.schedule(&starter);
  ASSERT_TRUE(c.wait_for(1, long_wait));
  pool.stop();
  EXPECT_EQ(target_thread, starter_thread) << "the next slot is private to the worker";
}

TEST(ThreadPool, ManyResumablesAcrossWorkersAllRun) {
  const std::size_t count = troupe::test::scaled(2000, 300);
  constexpr std::size_t turns = 20;
  completion c;
  std::vector<std::unique_ptr<counting>> rs;
  for (std::size_t i = 0; i < count; ++i) rs.push_back(std::make_unique<counting>(turns, &c));
  troupe::thread_pool pool(troupe::pool_options{.threads = 4});
  // Half from outside, half from a worker (its local queue overflows into
  // the injection queue: 256 slots).
  for (std::size_t i = 0; i < count / 2; ++i) pool.schedule(rs[i].get());
  once fan_out([&] {
    for (std::size_t i = count / 2; i < count; ++i) pool.schedule(rs[i].get());
  });
  pool.schedule(&fan_out);
  ASSERT_TRUE(c.wait_for(count, long_wait)) << "only " << c.done << " of " << count << " finished";
  pool.stop();
  std::set<std::thread::id> threads;
  for (auto& r : rs) {
    EXPECT_EQ(r->taken, turns);
    EXPECT_FALSE(r->overlap.load());
    threads.insert(r->threads.begin(), r->threads.end());
  }
  EXPECT_LE(threads.size(), 4u);
}

TEST(ThreadPool, StopIsIdempotentAndDropsQueuedWork) {
  troupe::thread_pool pool(troupe::pool_options{.threads = 1});
  pool.stop();
  pool.stop();
  std::atomic<int> ran{0};
  once late([&] { ran.fetch_add(1); });
  pool.schedule(&late);  // accepted, never run
  pool.stop();
  EXPECT_EQ(ran.load(), 0);
}

TEST(ThreadPool, IdlePoolBurnsNoCpu) {
  troupe::thread_pool pool(troupe::pool_options{.threads = 2});
  // Give it some work first, so the workers go through spinning and parking.
  completion c;
  counting r(100, &c);
  pool.schedule(&r);
  ASSERT_TRUE(c.wait_for(1, long_wait));
  ASSERT_TRUE(troupe::test::wait_until([&] { return pool.stats().parks >= 2; }, long_wait));
  std::this_thread::sleep_for(200ms);  // settle
  const auto burnt = troupe::test::cpu_burnt_while_sleeping(1000ms);
  EXPECT_LT(burnt, troupe::test::idle_cpu_budget)
      << "an idle pool used " << std::chrono::duration_cast<std::chrono::milliseconds>(burnt).count()
      << " ms of CPU in 1 s";
}

TEST(ThreadPool, ParkedWorkersWakeForNewWork) {
  troupe::thread_pool pool(troupe::pool_options{.threads = 2, .spin_rounds = 1});
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(troupe::test::wait_until([&] { return pool.stats().parks >= 1; }, long_wait));
    completion c;
    counting r(1, &c);
    pool.schedule(&r);
    ASSERT_TRUE(c.wait_for(1, long_wait)) << "round " << round;
  }
}

} // namespace
