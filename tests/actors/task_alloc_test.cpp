// What a co_await ask costs the general allocator in steady state: at most
// one allocation per ask (the frames, envelopes, reply slots and pending
// entries come from the runtime's pool, and an ask answered in time arms
// no timer of its own). Counted by replacing the global operator new in
// this executable only. Not under a sanitizer: AddressSanitizer bypasses
// the pool on purpose, and both replace operator new themselves.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

#include <troupe/troupe.hpp>

#include "support/test_support.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
} // namespace

void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace std::chrono_literals;

struct question {
  int x = 0;
};
struct answerer : troupe::actor<answerer> {
  int on(question q) { return q.x + 1; }
};

struct run {
  int warm_up = 0;
  int measured = 0;
};

/// Asks through a nested task per iteration (a frame of its own each time).
struct asker : troupe::actor<asker> {
  explicit asker(troupe::actor_ref<answerer> a) : a_(std::move(a)) {}
  troupe::task<int> once(int x) {
    troupe::result<int> r = co_await ask(a_, question{x}, troupe::test::long_wait);
    co_return r.value();
  }
  troupe::task<long> on(run r) {
    for (int i = 0; i < r.warm_up; ++i) (void)co_await once(i);
    allocations.store(0);
    counting.store(true);
    long sum = 0;
    for (int i = 0; i < r.measured; ++i) sum += co_await once(i);
    counting.store(false);
    co_return sum;
  }
  troupe::actor_ref<answerer> a_;
};

TEST(TaskAllocations, AtMostOnePerAskInSteadyState) {
  if (troupe::test::sanitized) GTEST_SKIP() << "sanitizers bypass the pool and replace operator new";
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  auto q = sys.spawn<asker>(sys.spawn<answerer>());
  const int n = 20'000;
  auto r = q.ask(run{2'000, n}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, static_cast<long>(n) * (n + 1) / 2);
  const long seen = allocations.load();
  std::printf("operator new calls during %d co_await asks: %ld\n", n, seen);
  EXPECT_LE(seen, n) << "more than one allocation per ask";
}

} // namespace
