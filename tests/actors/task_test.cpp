// Tests of troupe/actors/task.hpp: coroutine handlers that co_await asks,
// reentrant and exclusive, their reply, timeouts, nesting, and what happens
// to a waiting frame when its actor stops or it throws.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <troupe/troupe.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::test::long_wait;

struct question {
  int x = 0;
};
struct release {};
struct mark {};

using lines = troupe::inbox<std::string>;
using lines_ref = troupe::actor_ref<lines::actor_type>;

/// Holds every question (saying so) until told to release them, then
/// answers x * 10.
struct answerer : troupe::actor<answerer> {
  explicit answerer(lines_ref out) : out_(std::move(out)) {}
  troupe::promise<int> on(question q) {
    auto p = make_promise<int>();
    held_.emplace_back(p, q.x);
    out_.tell("held " + std::to_string(q.x));
    return p;
  }
  void on(release) {
    for (auto& [p, x] : held_) p.deliver(x * 10);
    held_.clear();
  }
  std::vector<std::pair<troupe::promise<int>, int>> held_;
  lines_ref out_;
};

/// Answers at once.
struct doubler : troupe::actor<doubler> {
  int on(question q) { return 2 * q.x; }
};

struct reentrant_q {
  int x = 0;
};
struct exclusive_q {
  int x = 0;
};
struct quick_timeout {};
struct throws_after {};
struct nested_q {
  int x = 0;
};
struct lambda_q {
  int x = 0;
};
struct where_q {};

/// The coroutine handlers under test. Says what it does on `out`.
struct asker : troupe::actor<asker> {
  asker(troupe::actor_ref<answerer> a, troupe::actor_ref<doubler> d, lines_ref out,
        std::shared_ptr<std::atomic<int>> frames_gone = nullptr)
      : a_(std::move(a)), d_(std::move(d)), out_(std::move(out)), frames_gone_(std::move(frames_gone)) {}

  troupe::task<int> on(reentrant_q q) {
    sentinel s{frames_gone_};
    out_.tell("asking " + std::to_string(q.x));
    troupe::result<int> r = co_await ask(a_, question{q.x}, long_wait);
    out_.tell("resumed " + std::to_string(q.x));
    co_return r ? *r + 1 : -1;
  }

  troupe::exclusive_task<int> on(exclusive_q q) {
    out_.tell(std::string("asking"));
    troupe::result<int> r = co_await ask(a_, question{q.x}, long_wait);
    out_.tell(std::string("resumed"));
    co_return r ? *r + 1 : -1;
  }

  troupe::task<std::string> on(quick_timeout) {
    troupe::result<int> r = co_await ask(a_, question{1}, 20ms);
    co_return r ? std::string("value") : std::string(r.error().message());
  }

  troupe::task<int> on(throws_after) {
    (void)co_await ask(d_, question{1}, long_wait);
    throw std::runtime_error("thrown after the wait");
  }

  troupe::task<int> twice(int x) {
    troupe::result<int> r = co_await ask(d_, question{x}, long_wait);
    co_return r.value();
  }
  troupe::task<int> on(nested_q q) {
    const int a = co_await twice(q.x);
    const int b = co_await twice(q.x + 1);
    co_return a + b;
  }

  // The pattern g++ 12 is known to get wrong in other coroutine libraries:
  // a temporary lambda called in the same full expression as the co_await.
  troupe::task<int> on(lambda_q q) {
    troupe::result<int> r = co_await ask(d_, [&] { return question{q.x}; }(), long_wait);
    co_return r.value();
  }

  // The threads before and after a wait (and a timer's wait).
  troupe::task<bool> on(where_q) {
    const auto before = std::this_thread::get_id();
    (void)co_await ask(a_, question{0}, 20ms);  // resumed by the timeout
    const auto after_timeout = std::this_thread::get_id();
    (void)co_await ask(d_, question{0}, long_wait);
    const auto after_reply = std::this_thread::get_id();
    co_return before == after_timeout && before == after_reply;
  }

  void on(mark) { out_.tell(std::string("mark")); }

 private:
  struct sentinel {
    std::shared_ptr<std::atomic<int>> gone;
    ~sentinel() {
      if (gone) gone->fetch_add(1);
    }
  };
  troupe::actor_ref<answerer> a_;
  troupe::actor_ref<doubler> d_;
  lines_ref out_;
  std::shared_ptr<std::atomic<int>> frames_gone_;
};

std::string next_line(lines& in) {
  auto l = in.receive(long_wait);
  return l ? *l : std::string("(nothing within the deadline)");
}

struct fixture {
  explicit fixture(std::size_t threads = 2) : sys(troupe::system_config{.threads = threads}), in(sys) {}
  troupe::actor_system sys;
  lines in;
  troupe::actor_ref<answerer> a = sys.spawn<answerer>(in.ref());
  troupe::actor_ref<doubler> d = sys.spawn<doubler>();
  std::shared_ptr<std::atomic<int>> gone = std::make_shared<std::atomic<int>>(0);
  troupe::actor_ref<asker> q = sys.spawn<asker>(a, d, in.ref(), gone);
};

TEST(Task, CoReturnIsTheReplyAndOtherMessagesRunWhileItWaits) {
  fixture f;
  auto reply = f.q.ask(reentrant_q{4}, long_wait);
  EXPECT_EQ(next_line(f.in), "asking 4");
  EXPECT_EQ(next_line(f.in), "held 4");
  f.q.tell(mark{});
  EXPECT_EQ(next_line(f.in), "mark") << "a reentrant task lets other messages in while it waits";
  f.a.tell(release{});
  EXPECT_EQ(next_line(f.in), "resumed 4");
  auto r = reply.get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 41);
}

TEST(Task, ManyWaitAtOnceAndEachGetsItsOwnReply) {
  fixture f;
  const int n = static_cast<int>(troupe::test::scaled(200, 50));
  std::vector<troupe::ask_future<int>> replies;
  for (int i = 0; i < n; ++i) replies.push_back(f.q.ask(reentrant_q{i}, long_wait));
  int asking = 0;
  int held = 0;
  for (int i = 0; i < 2 * n; ++i) {
    const std::string l = next_line(f.in);
    asking += l.rfind("asking", 0) == 0 ? 1 : 0;
    held += l.rfind("held", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(asking, n);
  EXPECT_EQ(held, n);
  f.a.tell(release{});
  for (int i = 0; i < n; ++i) {
    auto r = replies[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(*r, i * 10 + 1);
  }
}

// One worker, so the order is fixed: the mark is queued before the release.
// A reentrant handler would let it in first; an exclusive one holds it
// until the reply has resumed the handler.
TEST(Task, AnExclusiveTaskHoldsOtherMessagesUntilItResumes) {
  fixture f(1);
  auto reply = f.q.ask(exclusive_q{3}, long_wait);
  EXPECT_EQ(next_line(f.in), "asking");
  EXPECT_EQ(next_line(f.in), "held 3");
  f.q.tell(mark{});
  f.a.tell(release{});
  EXPECT_EQ(next_line(f.in), "resumed");
  EXPECT_EQ(next_line(f.in), "mark");
  auto r = reply.get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 31);
}

TEST(Task, AnExclusiveTaskStillServesItsSystemLane) {
  fixture f(1);
  auto reply = f.q.ask(exclusive_q{3}, long_wait);
  EXPECT_EQ(next_line(f.in), "asking");
  f.q.kill();  // a system message: served while the task waits
  auto r = reply.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::ask_error::actor_stopped);
}

TEST(Task, TheTimeoutResumesItWithAnError) {
  fixture f;
  auto r = f.q.ask(quick_timeout{}, long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, make_error_code(troupe::ask_error::timeout).message());
}

TEST(Task, ItResumesOnItsActorNeverOnTheTimerThread) {
  fixture f(1);  // one worker: every turn of the actor runs on it
  auto r = f.q.ask(where_q{}, long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(*r);
}

TEST(Task, AStopWhileItWaitsDestroysTheFrameAndFailsTheAsk) {
  fixture f;
  auto reply = f.q.ask(reentrant_q{1}, long_wait);
  EXPECT_EQ(next_line(f.in), "asking 1");
  EXPECT_EQ(next_line(f.in), "held 1");
  EXPECT_EQ(f.gone->load(), 0);
  f.q.kill();
  auto r = reply.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::ask_error::actor_stopped);
  EXPECT_EQ(f.gone->load(), 1) << "the frame's locals were destroyed";
  f.a.tell(release{});  // its reply finds the asker gone: nothing resumes
  auto after = f.d.ask(question{1}, long_wait).get();
  EXPECT_TRUE(after.ok()) << after.message();
  EXPECT_EQ(f.gone->load(), 1);
}

struct watcher : troupe::actor<watcher> {
  explicit watcher(lines_ref out) : out_(std::move(out)) {}
  struct watch {
    troupe::actor_ref<asker> who;
  };
  troupe::task<int> on(watch w) {
    monitor(w.who);
    troupe::result<int> r = co_await ask(w.who, throws_after{}, long_wait);
    out_.tell(r ? std::string("reply") : "failed: " + std::string(r.message()));
    co_return 0;
  }
  void on(const troupe::down& d) { out_.tell("down " + std::string(to_string(d.reason))); }
  lines_ref out_;
};

TEST(Task, AnExceptionAfterAWaitFailsTheActorAndTheDownComesFirst) {
  fixture f;
  lines seen(f.sys);
  auto w = f.sys.spawn<watcher>(seen.ref());
  w.tell(watcher::watch{f.q});
  EXPECT_EQ(next_line(seen), "down exception");
  EXPECT_EQ(next_line(seen), "failed: thrown after the wait");
}

TEST(Task, ATaskAwaitsAnotherAsPartOfItself) {
  fixture f;
  auto r = f.q.ask(nested_q{5}, long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 2 * 5 + 2 * 6);
}

TEST(Task, ATemporaryLambdaInTheAwaitExpression) {
  fixture f;
  auto r = f.q.ask(lambda_q{21}, long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 42);
}

TEST(Task, ATellRunsTheHandlerWithNobodyToAnswer) {
  fixture f;
  EXPECT_EQ(f.q.tell(reentrant_q{2}), troupe::send_result::ok);
  EXPECT_EQ(next_line(f.in), "asking 2");
  EXPECT_EQ(next_line(f.in), "held 2");
  f.a.tell(release{});
  EXPECT_EQ(next_line(f.in), "resumed 2");
  EXPECT_TRUE(troupe::test::wait_until([&] { return f.gone->load() == 1; }, long_wait))
      << "the finished frame was freed";
}

} // namespace
