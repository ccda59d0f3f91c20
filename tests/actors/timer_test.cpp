// Tests of actor timers (troupe/actors/actor.hpp): send_after, send_periodic,
// cancellation, argument checks, and timers ending with their actor.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"

namespace {

using namespace troupe::test::prelude;
using clock_type = std::chrono::steady_clock;

using tick_inbox = troupe::inbox<int>;
using tick_ref = actor_ref<tick_inbox::actor_type>;

struct after {
  std::chrono::milliseconds delay;
  int value;
};
struct periodic {
  std::chrono::milliseconds period;
  int value;
};
struct cancel_all {};
struct bad_after {};
struct bad_period {};

/// Starts timers towards `out` on command; keeps the handles to cancel them.
struct timed : actor<timed> {
  explicit timed(tick_ref out) : out_(std::move(out)) {}
  void on(after a) { handles_.push_back(send_after(out_, a.delay, a.value)); }
  void on(periodic p) { handles_.push_back(send_periodic(out_, p.period, p.value)); }
  void on(cancel_all) {
    for (auto& h : handles_) h.cancel();
    out_.tell(-1);  // marks the cancel in the inbox's order
  }
  std::string on(bad_after) {
    try {
      send_after(out_, -1ms, 0);
    } catch (const std::invalid_argument&) {
      return "threw";
    }
    return "no throw";
  }
  std::string on(bad_period) {
    try {
      send_periodic(out_, 0ms, 0);
    } catch (const std::invalid_argument&) {
      return "threw";
    }
    return "no throw";
  }
  tick_ref out_;
  std::vector<troupe::timer_handle> handles_;
};

TEST(ActorTimers, SendAfterDeliversOnceAfterTheDelay) {
  actor_system sys(system_config{.threads = 2});
  tick_inbox out(sys);
  auto t = sys.spawn<timed>(out.ref());
  const auto start = clock_type::now();
  t.tell(after{50ms, 7});
  EXPECT_EQ(out.receive(long_wait), 7);
  EXPECT_GE(clock_type::now() - start, 50ms);
  // A later timer works as a barrier: nothing else arrived in between.
  t.tell(after{30ms, 8});
  EXPECT_EQ(out.receive(long_wait), 8);
}

TEST(ActorTimers, CancelledSendAfterNeverArrives) {
  actor_system sys(system_config{.threads = 2});
  tick_inbox out(sys);
  auto t = sys.spawn<timed>(out.ref());
  t.tell(after{40ms, 1});
  t.tell(cancel_all{});
  EXPECT_EQ(out.receive(long_wait), -1);
  t.tell(after{100ms, 2});  // fires after the cancelled one would have
  EXPECT_EQ(out.receive(long_wait), 2) << "the cancelled timer delivered";
}

TEST(ActorTimers, SendPeriodicRepeatsUntilCancelled) {
  actor_system sys(system_config{.threads = 2});
  tick_inbox out(sys);
  auto t = sys.spawn<timed>(out.ref());
  const auto start = clock_type::now();
  t.tell(periodic{10ms, 5});
  for (int i = 0; i < 5; ++i) ASSERT_EQ(out.receive(long_wait), 5) << "tick " << i;
  EXPECT_GE(clock_type::now() - start, 50ms);
  t.tell(cancel_all{});
  // Ticks already in flight may precede the marker; at most one more may follow it.
  int after_marker = 0;
  for (;;) {
    auto v = out.receive(long_wait);
    ASSERT_TRUE(v.has_value());
    if (*v == -1) break;
  }
  t.tell(after{100ms, 9});  // barrier: ten more periods would have fired by now
  for (;;) {
    auto v = out.receive(long_wait);
    ASSERT_TRUE(v.has_value());
    if (*v == 9) break;
    ++after_marker;
  }
  EXPECT_LE(after_marker, 1);
}

TEST(ActorTimers, BadDelaysThrow) {
  actor_system sys(system_config{.threads = 1});
  tick_inbox out(sys);
  auto t = sys.spawn<timed>(out.ref());
  EXPECT_EQ(t.ask(bad_after{}, long_wait).get().value(), "threw");
  EXPECT_EQ(t.ask(bad_period{}, long_wait).get().value(), "threw");
}

TEST(ActorTimers, TimersEndWithTheirActor) {
  actor_system sys(system_config{.threads = 2});
  tick_inbox out(sys);
  auto t = sys.spawn<timed>(out.ref());
  t.tell(periodic{5ms, 1});
  t.tell(after{200ms, 2});
  ASSERT_EQ(out.receive(long_wait), 1);
  t.stop();
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
  bool one_shot_fired_before_stop = false;
  while (auto v = out.receive(0ms)) one_shot_fired_before_stop |= *v == 2;
  // Barrier after the one-shot's deadline, from the system's timer thread.
  auto g = std::make_shared<troupe::test::gate>();
  troupe::detail::system_access::core(sys).timers().schedule_after(250ms, [g] { g->open(); });
  ASSERT_TRUE(g->wait_for(long_wait));
  int ticks = 0;
  while (auto v = out.receive(0ms)) {
    if (*v == 2) {
      EXPECT_TRUE(one_shot_fired_before_stop) << "the one-shot timer of a stopped actor fired";
    } else {
      ++ticks;
    }
  }
  EXPECT_LE(ticks, 1) << "the periodic timer kept running after its actor stopped";
}

} // namespace
