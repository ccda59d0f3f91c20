// Tests of ask: actor_ref::ask + ask_future from outside the system, and
// actor::ask with a continuation from inside an actor; result<T>.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"

namespace {

using namespace troupe::test::prelude;
using clock_type = std::chrono::steady_clock;

struct boom {};

struct doubler : actor<doubler> {
  int on(int x) { return 2 * x; }
  int on(boom) { throw std::runtime_error("doubler exploded"); }
  std::string on(std::string s) { return s + s; }
};

// ---- result<T> -----------------------------------------------------------------

TEST(Result, ValueAndError) {
  result<int> ok(5);
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_EQ(ok.value(), 5);
  EXPECT_EQ(*ok, 5);
  EXPECT_TRUE(ok.message().empty());

  result<int> bad(troupe::failure{ask_error::timeout, "too slow"});
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), ask_error::timeout);
  EXPECT_EQ(bad.message(), "too slow");
  EXPECT_THROW((void)bad.value(), std::logic_error);
}

// ---- from outside ----------------------------------------------------------------

TEST(AskFromOutside, ReturnsTheHandlersValue) {
  actor_system sys(system_config{.threads = 2});
  auto d = sys.spawn<doubler>();
  auto f = d.ask(21, long_wait);
  auto r = f.get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), 42);
  auto s = d.ask(std::string("ab"), long_wait).get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value(), "abab");
}

TEST(AskFromOutside, ManyConcurrentAsksEachGetTheirOwnReply) {
  actor_system sys(system_config{.threads = 2});
  auto d = sys.spawn<doubler>();
  constexpr int threads = 4;
  const int per_thread = static_cast<int>(troupe::test::scaled(2'000, 200));
  std::atomic<int> wrong{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const int x = t * per_thread + i;
        auto r = d.ask(x, long_wait).get();
        if (!r.ok() || r.value() != 2 * x) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(AskFromOutside, TimesOutWhenTheActorDoesNotAnswerInTime) {
  troupe::test::held_recorder h;
  ASSERT_TRUE(h.hold());
  const auto start = clock_type::now();
  auto f = h.r.ask(troupe::test::where{}, 50ms);
  EXPECT_FALSE(f.ready());
  auto res = f.get();
  const auto took = clock_type::now() - start;
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), ask_error::timeout);
  EXPECT_GE(took, 50ms);
  EXPECT_LT(took, 10s);
  h.release.open();
  // The actor answers late; the reply is discarded and the actor is fine.
  auto again = h.r.ask(troupe::test::where{}, long_wait).get();
  EXPECT_TRUE(again.ok());
}

TEST(AskFromOutside, TheLongestTimeoutWaitsForTheAnswer) {
  // duration::max() means "wait for it", not an overflowed deadline in the past.
  troupe::test::held_recorder h;
  ASSERT_TRUE(h.hold());
  auto f = h.r.ask(troupe::test::where{}, std::chrono::nanoseconds::max());
  EXPECT_FALSE(f.ready());
  h.release.open();
  const auto res = f.get();
  EXPECT_TRUE(res.ok()) << res.error().message();
}

TEST(AskFromOutside, NegativeTimeoutThrows) {
  actor_system sys(system_config{.threads = 1});
  auto d = sys.spawn<doubler>();
  EXPECT_THROW((void)d.ask(1, -1ms), std::invalid_argument);
  // Nothing was sent.
  EXPECT_EQ(d.ask(1, long_wait).get().value(), 2);
}

TEST(AskFromOutside, StoppedActorReportsActorStopped) {
  actor_system sys(system_config{.threads = 1});
  auto d = sys.spawn<doubler>();
  d.stop();
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
  auto r = d.ask(1, long_wait).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ask_error::actor_stopped);
}

TEST(AskFromOutside, ActorStoppingBeforeAnsweringReportsActorStopped) {
  held_recorder h(system_config{.threads = 1});
  ASSERT_TRUE(h.hold());
  auto f = h.r.ask(troupe::test::where{}, long_wait);
  h.r.stop();  // system lane: served before the queued ask
  h.release.open();
  auto res = f.get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), ask_error::actor_stopped);
}

TEST(AskFromOutside, HandlerExceptionReportsException) {
  actor_system sys(system_config{.threads = 1});
  auto d = sys.spawn<doubler>();
  auto r = d.ask(boom{}, long_wait).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ask_error::exception);
  EXPECT_NE(std::string(r.message()).find("doubler exploded"), std::string::npos);
}

TEST(AskFromOutside, RefusedByAFullFailMailboxReportsMailboxFull) {
  held_recorder h(system_config{.threads = 1},
                  {.mailbox = {.capacity = 2, .policy = troupe::overflow::fail}, .dedicated_thread = true});
  ASSERT_TRUE(h.hold());
  auto& sys = h.sys;
  auto& r = h.r;
  while (r.mailbox_depth() < 2) ASSERT_EQ(r.tell(troupe::test::seq_msg{0, 0}), send_result::ok);
  const auto before = sys.stats().dead(drop_reason::mailbox_full);
  auto res = r.ask(troupe::test::where{}, long_wait).get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), ask_error::mailbox_full);
  EXPECT_EQ(sys.stats().dead(drop_reason::mailbox_full), before + 1);
}

// ---- from inside an actor -------------------------------------------------------------

using text_inbox = troupe::inbox<std::string>;
using text_ref = actor_ref<text_inbox::actor_type>;

template <class T>
std::string describe(result<T> r) {
  if (!r.ok()) return std::string(troupe::to_string(troupe::ask_error_of(r.error())));
  if constexpr (std::is_same_v<T, int>) return std::to_string(r.value());
  else return "ok";
}

/// Asks on command and forwards what its continuation gets to `out`.
struct asker : actor<asker> {
  asker(actor_ref<doubler> d, actor_ref<recorder> slow, text_ref out)
      : d_(std::move(d)), slow_(std::move(slow)), out_(std::move(out)) {}
  struct ask_double {
    int x;
  };
  struct ask_boom {};
  struct ask_slow {
    std::chrono::milliseconds timeout;
  };
  struct ask_negative {};
  struct ask_forever {
    int x;
  };
  struct get_state {};

  void on(ask_double m) {
    ask(d_, m.x, long_wait, [this](result<int> r) {
      ++continuations;
      out_.tell(describe(r));
    });
  }
  void on(ask_boom) {
    ask(d_, boom{}, long_wait, [this](result<int> r) { out_.tell(describe(r)); });
  }
  void on(ask_slow m) {
    ask(slow_, troupe::test::where{}, m.timeout, [this](result<std::thread::id> r) {
      ++continuations;
      out_.tell("slow " + describe(r));
    });
  }
  void on(ask_negative) {
    try {
      ask(d_, 1, -1ms, [](result<int>) {});
      out_.tell(std::string("no throw"));
    } catch (const std::invalid_argument&) {
      out_.tell(std::string("threw"));
    }
  }
  void on(ask_forever m) {
    ask(d_, m.x, std::chrono::hours::max(), [this](result<int> r) { out_.tell(describe(r)); });
  }
  int on(get_state) { return continuations; }

  actor_ref<doubler> d_;
  actor_ref<recorder> slow_;
  text_ref out_;
  int continuations = 0;
};

TEST(AskFromActor, ContinuationForwardsTheReply) {
  actor_system sys(system_config{.threads = 2});
  text_inbox out(sys);
  auto d = sys.spawn<doubler>();
  auto a = sys.spawn<asker>(d, actor_ref<recorder>{}, out.ref());
  a.tell(asker::ask_double{21});
  EXPECT_EQ(out.receive(long_wait), "42");
  a.tell(asker::ask_double{5});
  EXPECT_EQ(out.receive(long_wait), "10");
  EXPECT_EQ(a.ask(asker::get_state{}, long_wait).get().value(), 2) << "exactly one continuation per ask";
}

TEST(AskFromActor, HandlerExceptionReachesTheContinuation) {
  actor_system sys(system_config{.threads = 2});
  text_inbox out(sys);
  auto d = sys.spawn<doubler>();
  auto a = sys.spawn<asker>(d, actor_ref<recorder>{}, out.ref());
  a.tell(asker::ask_boom{});
  EXPECT_EQ(out.receive(long_wait), "exception");
}

TEST(AskFromActor, StoppedTargetReachesTheContinuation) {
  actor_system sys(system_config{.threads = 2});
  text_inbox out(sys);
  auto d = sys.spawn<doubler>();
  auto a = sys.spawn<asker>(d, actor_ref<recorder>{}, out.ref());
  d.stop();
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, long_wait));
  a.tell(asker::ask_double{1});
  EXPECT_EQ(out.receive(long_wait), "actor_stopped");
  a.tell(asker::ask_slow{long_wait});  // empty target handle
  EXPECT_EQ(out.receive(long_wait), "slow actor_stopped");
}

TEST(AskFromActor, TheLongestTimeoutIsAccepted) {
  actor_system sys(system_config{.threads = 2});
  text_inbox out(sys);
  auto d = sys.spawn<doubler>();
  auto a = sys.spawn<asker>(d, actor_ref<recorder>{}, out.ref());
  a.tell(asker::ask_forever{4});
  EXPECT_EQ(out.receive(long_wait), "8");
}

TEST(AskFromActor, NegativeTimeoutThrows) {
  actor_system sys(system_config{.threads = 2});
  text_inbox out(sys);
  auto d = sys.spawn<doubler>();
  auto a = sys.spawn<asker>(d, actor_ref<recorder>{}, out.ref());
  a.tell(asker::ask_negative{});
  EXPECT_EQ(out.receive(long_wait), "threw");
}

TEST(AskFromActor, TimeoutReachesTheContinuationAndTheLateReplyIsCounted) {
  troupe::test::held_recorder h;
  ASSERT_TRUE(h.hold());
  text_inbox out(h.sys);
  auto a = h.sys.spawn<asker>(actor_ref<doubler>{}, h.r, out.ref());
  const auto start = clock_type::now();
  a.tell(asker::ask_slow{50ms});
  EXPECT_EQ(out.receive(long_wait), "slow timeout");
  EXPECT_GE(clock_type::now() - start, 50ms);
  const auto late_before = h.sys.stats().dead(drop_reason::late_reply);
  h.release.open();
  ASSERT_TRUE(troupe::test::wait_until(
      [&] { return h.sys.stats().dead(drop_reason::late_reply) == late_before + 1; }, long_wait));
  EXPECT_EQ(out.receive(50ms), std::nullopt) << "the late reply must not run the continuation again";
  EXPECT_EQ(a.ask(asker::get_state{}, long_wait).get().value(), 1);
}

TEST(AskFromActor, NoContinuationWhenTheAskerStopsFirst) {
  troupe::test::held_recorder h;
  ASSERT_TRUE(h.hold());
  text_inbox out(h.sys);
  auto a = h.sys.spawn<asker>(actor_ref<doubler>{}, h.r, out.ref());
  a.tell(asker::ask_slow{long_wait});
  // The asker handled the request (its ask is queued at the held recorder) before stopping.
  ASSERT_TRUE(troupe::test::wait_until([&] { return h.r.mailbox_depth() >= 2; }, long_wait));
  a.stop();
  ASSERT_TRUE(troupe::test::wait_until([&] { return h.sys.stats().stopped == 1; }, long_wait));
  h.release.open();
  EXPECT_TRUE(h.r.ask(troupe::test::where{}, long_wait).get().ok());  // it answered the asker by now
  EXPECT_EQ(out.receive(100ms), std::nullopt);
}

} // namespace
