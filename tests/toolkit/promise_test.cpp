// Tests of troupe/actors/promise.hpp: a handler returns `promise<R>` and
// answers later, from a continuation, a timer or another thread; copies
// share one reply; the last copy dropped unanswered fails the ask.
#include <gtest/gtest.h>
#include <troupe/troupe.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

struct compute {
  int x = 0;
};
struct later {};
struct fire {};
struct on_thread {};
struct dropped {};
struct twice {};

struct doubler : troupe::actor<doubler> {
  int on(compute c) { return 2 * c.x; }
};

/// The header's example, as a user writes it: the member make_promise,
/// the promise captured by value in a continuation, then returned.
struct front : troupe::actor<front> {
  explicit front(troupe::actor_ref<doubler> w) : worker_(std::move(w)) {}

  troupe::promise<int> on(compute c) {
    auto p = make_promise<int>();  // takes over the asker's reply
    ask(worker_, c, 1s, [p](troupe::result<int> r) { p.settle(std::move(r)); });
    return p;
  }

  // Kept as a member and settled by a later message.
  troupe::promise<int> on(later) {
    kept_ = make_promise<int>();
    send_after(self(), 5ms, fire{});
    return kept_;
  }
  void on(fire) { kept_.deliver(7); }

  // Settled on a thread of its own.
  troupe::promise<int> on(on_thread) {
    auto p = make_promise<int>();
    helper_ = std::thread([p] { p.deliver(11); });
    return p;
  }

  // Nobody keeps it: the asker hears that it was dropped.
  troupe::promise<int> on(dropped) { return make_promise<int>(); }

  // Only the first settle answers.
  troupe::promise<int> on(twice) {
    auto p = make_promise<int>();
    p.deliver(1);
    p.deliver(2);
    p.fail(troupe::ask_error::exception, "too late");
    EXPECT_FALSE(p.pending());
    return p;
  }

  void on_stop() {
    if (helper_.joinable()) helper_.join();
  }

 private:
  troupe::actor_ref<doubler> worker_;
  troupe::promise<int> kept_;
  std::thread helper_;
};

TEST(Promise, SettledFromAContinuationItWasCapturedIn) {
  troupe::actor_system sys;
  auto f = sys.spawn<front>(sys.spawn<doubler>());
  auto r = f.ask(compute{21}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 42);
}

TEST(Promise, ReturnedAndKeptThenSettledByALaterMessage) {
  troupe::actor_system sys;
  auto f = sys.spawn<front>(sys.spawn<doubler>());
  auto r = f.ask(later{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 7);
}

TEST(Promise, SettledOnAnotherThread) {
  troupe::actor_system sys;
  auto f = sys.spawn<front>(sys.spawn<doubler>());
  auto r = f.ask(on_thread{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 11);
}

TEST(Promise, TheLastCopyDroppedUnansweredFailsTheAsk) {
  troupe::actor_system sys;
  auto f = sys.spawn<front>(sys.spawn<doubler>());
  auto r = f.ask(dropped{}, troupe::test::long_wait).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::ask_error::actor_stopped);
  EXPECT_NE(std::string(r.message()).find("dropped unanswered"), std::string::npos) << r.message();
}

TEST(Promise, OnlyTheFirstSettleAnswers) {
  troupe::actor_system sys;
  auto f = sys.spawn<front>(sys.spawn<doubler>());
  auto r = f.ask(twice{}, troupe::test::long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 1);
}

TEST(Promise, ATellToAPromiseHandlerGetsAnEmptyPromise) {
  troupe::actor_system sys;
  auto f = sys.spawn<front>(sys.spawn<doubler>());
  EXPECT_EQ(f.tell(dropped{}), troupe::send_result::ok);
  EXPECT_EQ(f.tell(twice{}), troupe::send_result::ok);
  auto r = f.ask(compute{1}, troupe::test::long_wait).get();  // still serving
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 2);
}

} // namespace
