// Tests of troupe/mailbox/mpsc_queue.hpp: the intrusive Vyukov MPSC queue.
#include "troupe/mailbox/mpsc_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace {

struct item : troupe::mpsc_node {
  std::size_t producer = 0;
  std::size_t seq = 0;
};

TEST(MpscQueue, EmptyQueuePopsNothing) {
  troupe::mpsc_queue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_TRUE(q.empty());
}

TEST(MpscQueue, SingleThreadFifo) {
  troupe::mpsc_queue q;
  std::vector<item> items(100);
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i].seq = i;
    q.push(&items[i]);
    EXPECT_FALSE(q.empty());
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto* n = static_cast<item*>(q.pop());
    ASSERT_NE(n, nullptr) << "item " << i;
    EXPECT_EQ(n, &items[i]);
    EXPECT_EQ(n->seq, i);
  }
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_TRUE(q.empty());
}

TEST(MpscQueue, InterleavedPushPopKeepsOrder) {
  // Push and pop in a pattern that repeatedly empties the queue, so the stub
  // node is re-inserted many times.
  troupe::mpsc_queue q;
  std::vector<item> items(64);
  std::size_t pushed = 0, popped = 0;
  for (int round = 0; round < 16; ++round) {
    for (int k = 0; k < round % 4 + 1 && pushed < items.size(); ++k) {
      items[pushed].seq = pushed;
      q.push(&items[pushed++]);
    }
    while (auto* n = static_cast<item*>(q.pop())) {
      EXPECT_EQ(n->seq, popped);
      ++popped;
    }
    EXPECT_EQ(popped, pushed);
    EXPECT_TRUE(q.empty());
  }
  EXPECT_GT(pushed, 16u);
}

TEST(MpscQueue, NodeCanBeReusedAfterPop) {
  troupe::mpsc_queue q;
  item a, b;
  for (int i = 0; i < 10; ++i) {
    q.push(&a);
    q.push(&b);
    EXPECT_EQ(q.pop(), &a);
    EXPECT_EQ(q.pop(), &b);
    EXPECT_EQ(q.pop(), nullptr);
  }
}

TEST(MpscQueue, MultiProducerEachItemOnceInPerProducerOrder) {
  constexpr std::size_t producers = 4;
  const std::size_t per_producer = troupe::test::scaled(100'000, 10'000);
  troupe::mpsc_queue q;
  std::vector<std::unique_ptr<item[]>> items;
  for (std::size_t p = 0; p < producers; ++p) items.push_back(std::make_unique<item[]>(per_producer));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::size_t i = 0; i < per_producer; ++i) {
        items[p][i].producer = p;
        items[p][i].seq = i;
        q.push(&items[p][i]);
      }
    });
  }
  go.store(true, std::memory_order_release);

  std::vector<std::size_t> next(producers, 0);
  std::vector<std::vector<bool>> seen(producers, std::vector<bool>(per_producer, false));
  std::size_t total = 0;
  bool order_ok = true, dup_free = true;
  const auto deadline = std::chrono::steady_clock::now() + troupe::test::long_wait;
  while (total < producers * per_producer && std::chrono::steady_clock::now() < deadline) {
    auto* n = static_cast<item*>(q.pop());
    if (n == nullptr) {
      std::this_thread::yield();
      continue;
    }
    if (seen[n->producer][n->seq]) dup_free = false;
    seen[n->producer][n->seq] = true;
    if (n->seq != next[n->producer]) order_ok = false;
    next[n->producer] = n->seq + 1;
    ++total;
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(total, producers * per_producer) << "consumer timed out";
  EXPECT_TRUE(dup_free);
  EXPECT_TRUE(order_ok);
  for (std::size_t p = 0; p < producers; ++p) EXPECT_EQ(next[p], per_producer) << "producer " << p;
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_TRUE(q.empty());
}

} // namespace
