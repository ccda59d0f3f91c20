// Tests of troupe/scheduler/work_queue.hpp: the owner's bounded SPMC run queue.
#include "troupe/scheduler/work_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace {

struct task {
  std::size_t id = 0;
};

TEST(WorkQueue, EmptyPopsNull) {
  troupe::work_queue<task, 4> q;
  EXPECT_TRUE(q.maybe_empty());
  EXPECT_EQ(q.try_pop(), nullptr);
}

TEST(WorkQueue, PushPopFifo) {
  troupe::work_queue<task, 8> q;
  std::vector<task> t(8);
  for (std::size_t i = 0; i < t.size(); ++i) {
    t[i].id = i;
    ASSERT_TRUE(q.try_push(&t[i]));
  }
  EXPECT_FALSE(q.maybe_empty());
  for (std::size_t i = 0; i < t.size(); ++i) EXPECT_EQ(q.try_pop(), &t[i]);
  EXPECT_EQ(q.try_pop(), nullptr);
  EXPECT_TRUE(q.maybe_empty());
}

TEST(WorkQueue, FullReturnsFalse) {
  troupe::work_queue<task, 4> q;
  task t[6];
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.try_push(&t[i]));
  EXPECT_FALSE(q.try_push(&t[4]));
  EXPECT_FALSE(q.try_push(&t[5]));
  EXPECT_EQ(q.try_pop(), &t[0]);
  EXPECT_TRUE(q.try_push(&t[4])) << "a pop makes room for one";
  EXPECT_FALSE(q.try_push(&t[5]));
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(q.try_pop(), &t[i]);
  EXPECT_EQ(q.try_pop(), nullptr);
}

TEST(WorkQueue, WrapsAroundManyTimes) {
  troupe::work_queue<task, 4> q;
  std::vector<task> t(1000);
  std::size_t pushed = 0, popped = 0;
  while (popped < t.size()) {
    while (pushed < t.size() && pushed - popped < 3) ASSERT_TRUE(q.try_push(&t[pushed++]));
    ASSERT_EQ(q.try_pop(), &t[popped++]);
  }
  EXPECT_EQ(q.try_pop(), nullptr);
}

TEST(WorkQueue, ConcurrentThievesPopEachItemExactlyOnce) {
  constexpr std::size_t thieves = 3;
  const std::size_t items = troupe::test::scaled(200'000, 20'000);
  troupe::work_queue<task, 64> q;
  std::vector<task> t(items);
  for (std::size_t i = 0; i < items; ++i) t[i].id = i;
  std::vector<std::atomic<int>> taken(items);
  for (auto& x : taken) x.store(0, std::memory_order_relaxed);
  std::atomic<std::size_t> total{0};
  std::atomic<bool> done_pushing{false};

  auto take = [&](task* x) {
    taken[x->id].fetch_add(1, std::memory_order_relaxed);
    total.fetch_add(1, std::memory_order_relaxed);
  };
  const auto deadline = std::chrono::steady_clock::now() + troupe::test::long_wait;
  std::vector<std::thread> threads;
  std::vector<std::size_t> last_seen(thieves, 0);
  std::atomic<bool> thief_order_ok{true};
  for (std::size_t k = 0; k < thieves; ++k) {
    threads.emplace_back([&, k] {
      std::size_t last = 0;
      bool first = true;
      while (std::chrono::steady_clock::now() < deadline) {
        if (task* x = q.try_pop()) {
          // One thief sees items in increasing order (FIFO ring).
          if (!first && x->id <= last) thief_order_ok.store(false);
          first = false;
          last = x->id;
          take(x);
        } else if (done_pushing.load(std::memory_order_acquire) && q.maybe_empty()) {
          return;
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  // The owner pushes everything, popping some itself like a worker does.
  for (std::size_t i = 0; i < items && std::chrono::steady_clock::now() < deadline;) {
    if (q.try_push(&t[i])) {
      ++i;
    } else if (task* x = q.try_pop()) {
      take(x);
    }
  }
  done_pushing.store(true, std::memory_order_release);
  while (task* x = q.try_pop()) take(x);
  for (auto& th : threads) th.join();

  EXPECT_EQ(total.load(), items);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < items; ++i) bad += taken[i].load() != 1;
  EXPECT_EQ(bad, 0u) << "items popped zero or several times";
  EXPECT_TRUE(thief_order_ok.load());
}

} // namespace
