// Tests of troupe/actors/actor_system.hpp (and actor.hpp): spawn, lifecycle
// hooks, failure isolation, dead letters, shutdown, defer, idle CPU.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::actor;
using troupe::actor_ref;
using troupe::actor_system;
using troupe::ask_error;
using troupe::drop_reason;
using troupe::send_result;
using troupe::system_config;
using troupe::test::gate;
using troupe::test::gate_opener;
using troupe::test::live_token;
using troupe::test::long_wait;

struct increment {};
struct get_count {};
struct boom {};
struct quit {};
struct kick {};
struct tag {
  std::string name;
};

struct counter : actor<counter> {
  explicit counter(std::atomic<int>* live = nullptr)
      : token_(live != nullptr ? std::make_unique<live_token>(live) : nullptr) {}
  void on(increment) { ++n; }
  int on(get_count) { return n; }
  int n = 0;

 private:
  std::unique_ptr<live_token> token_;
};

TEST(ActorSystem, SpawnTellAsk) {
  actor_system sys(system_config{.threads = 2});
  auto c = sys.spawn<counter>();
  ASSERT_TRUE(c);
  EXPECT_NE(c.id(), 0u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.tell(increment{}), send_result::ok);
  auto r = c.ask(get_count{}, long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), 3);
  const auto st = sys.stats();
  EXPECT_EQ(st.spawned, 1u);
  EXPECT_EQ(st.live, 1u);
  EXPECT_EQ(st.stopped, 0u);
  EXPECT_EQ(st.total_dead(), 0u);
}

TEST(ActorSystem, HandlesAreValuesWithUniqueIds) {
  actor_system sys(system_config{.threads = 1});
  auto a = sys.spawn<counter>();
  auto b = sys.spawn<counter>();
  auto a2 = a;
  EXPECT_TRUE(a == a2);
  EXPECT_FALSE(a == b);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(std::hash<actor_ref<counter>>{}(a), std::hash<actor_ref<counter>>{}(a2));
  actor_ref<counter> empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.id(), 0u);
  EXPECT_EQ(empty.mailbox_depth(), 0u);
  EXPECT_EQ(empty.tell(increment{}), send_result::dead);
  auto r = empty.ask(get_count{}, long_wait).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ask_error::actor_stopped);
}

TEST(ActorSystem, PerSenderFifoFromOneThread) {
  actor_system sys(system_config{.threads = 2});
  auto r = sys.spawn<troupe::test::recorder>();
  const int n = static_cast<int>(troupe::test::scaled(10'000, 2'000));
  for (int i = 0; i < n; ++i) ASSERT_TRUE(troupe::accepted(r.tell(troupe::test::seq_msg{0, i})));
  auto seen = troupe::test::seen_by(r);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)].seq, i);
}

// ---- lifecycle hooks ----------------------------------------------------------

using event_inbox = troupe::inbox<std::string>;
using event_ref = actor_ref<event_inbox::actor_type>;

struct hooked : actor<hooked> {
  explicit hooked(event_ref out) : out_(std::move(out)) {}
  void on_start() { out_.tell(std::string("start")); }
  void on(tag t) { out_.tell(std::move(t.name)); }
  void on_stop() { out_.tell(std::string("stop")); }
  event_ref out_;
};

TEST(ActorSystem, StartAndStopHooksRun) {
  actor_system sys(system_config{.threads = 2});
  event_inbox events(sys);
  auto h = sys.spawn<hooked>(events.ref());
  h.tell(tag{"msg"});
  EXPECT_EQ(events.receive(long_wait), "start") << "on_start runs before the first message";
  EXPECT_EQ(events.receive(long_wait), "msg");
  h.stop();
  EXPECT_EQ(events.receive(long_wait), "stop");
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
  EXPECT_EQ(sys.stats().stopped, 1u);
  EXPECT_EQ(sys.stats().failed, 0u);
}

struct self_stopper : actor<self_stopper> {
  explicit self_stopper(event_ref out) : out_(std::move(out)) {}
  void on(tag t) {
    const bool last = t.name.size() == 4 && t.name.starts_with("last");
    out_.tell(std::move(t.name));
    if (last) stop();
  }
  void on_stop() { out_.tell(std::string("stop")); }
  event_ref out_;
};

TEST(ActorSystem, StopInsideAHandlerTakesEffectAfterIt) {
  actor_system sys(system_config{.threads = 2});
  event_inbox events(sys);
  auto s = sys.spawn<self_stopper>(events.ref());
  const auto dead_before = sys.stats().dead(drop_reason::receiver_stopped);
  s.tell(tag{"a"});
  s.tell(tag{"last"});
  const auto third = s.tell(tag{"never"});
  EXPECT_EQ(events.receive(long_wait), "a");
  EXPECT_EQ(events.receive(long_wait), "last");
  EXPECT_EQ(events.receive(long_wait), "stop");
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, long_wait));
  // "never" was either refused at once (dead) or queued and then drained:
  // either way it is a counted dead letter and never handled.
  EXPECT_TRUE(third == send_result::ok || third == send_result::dead);
  EXPECT_EQ(sys.stats().dead(drop_reason::receiver_stopped) - dead_before, 1u);
  EXPECT_EQ(events.receive(50ms), std::nullopt);
}

// ---- failure -------------------------------------------------------------------

struct fragile : actor<fragile> {
  explicit fragile(std::atomic<int>* live) : token_(live) {}
  int on(boom) { throw std::runtime_error("kaboom"); }
  int on(get_count) { return 7; }
  live_token token_;
};

TEST(ActorSystem, ExceptionStopsOnlyThatActor) {
  std::atomic<int> live_bad{0}, live_good{0};
  actor_system sys(system_config{.threads = 2});
  auto bad = sys.spawn<fragile>(&live_bad);
  auto good = sys.spawn<fragile>(&live_good);
  auto r = bad.ask(boom{}, long_wait).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ask_error::exception);
  EXPECT_NE(std::string(r.message()).find("kaboom"), std::string::npos) << r.message();

  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1 && live_bad.load() == 0; }, long_wait));
  EXPECT_EQ(sys.stats().failed, 1u);
  EXPECT_EQ(sys.stats().live, 1u);
  EXPECT_EQ(live_good.load(), 1);

  // The failed actor is gone: sends are dead letters, asks fail.
  const auto dead_before = sys.stats().dead(drop_reason::receiver_stopped);
  EXPECT_EQ(bad.tell(boom{}), send_result::dead);
  EXPECT_EQ(sys.stats().dead(drop_reason::receiver_stopped), dead_before + 1);
  auto r2 = bad.ask(get_count{}, long_wait).get();
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error(), ask_error::actor_stopped);

  // The other one keeps working.
  auto r3 = good.ask(get_count{}, long_wait).get();
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3.value(), 7);
}

struct fragile_start : actor<fragile_start> {
  void on_start() { throw std::runtime_error("start failed"); }
  void on(increment) {}
};

TEST(ActorSystem, ExceptionInOnStartStopsTheActor) {
  actor_system sys(system_config{.threads = 2});
  auto a = sys.spawn<fragile_start>();
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
  EXPECT_EQ(sys.stats().failed, 1u);
  EXPECT_EQ(a.tell(increment{}), send_result::dead);
}

struct double_fault : actor<double_fault> {
  void on(boom) { throw std::runtime_error("in the handler"); }
  void on_stop() { throw std::runtime_error("in on_stop too"); }
};

TEST(ActorSystem, FailedCountsActorsNotExceptions) {
  // stats().failed is documented as "of those [stopped], stopped by an
  // exception": one actor can fail at most once.
  actor_system sys(system_config{.threads = 1});
  auto a = sys.spawn<double_fault>();
  a.tell(boom{});
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
  const auto st = sys.stats();
  EXPECT_EQ(st.stopped, 1u);
  EXPECT_LE(st.failed, st.stopped)
      << "BUG: system_core::log_failure increments failed_ for an exception from on_stop as well, so an actor "
         "whose handler and on_stop both throw counts as two failures";
  EXPECT_EQ(st.failed, 1u);
}

TEST(ActorSystem, MessagesQueuedBehindAFailureBecomeDeadLetters) {
  std::atomic<int> live{0};
  gate release, entered;  // outlive the system: a handler waits on them
  actor_system sys(system_config{.threads = 1});
  auto blocker = sys.spawn<troupe::test::recorder>(&release, &entered);
  gate_opener opener(release);
  ASSERT_TRUE(troupe::test::hold_actor(blocker, entered));  // the only worker is busy
  auto bad = sys.spawn<fragile>(&live);
  const auto dead_before = sys.stats().dead(drop_reason::receiver_stopped);
  auto f1 = bad.ask(boom{}, long_wait);
  auto f2 = bad.ask(get_count{}, long_wait);
  auto f3 = bad.ask(get_count{}, long_wait);
  release.open();
  auto r1 = f1.get(), r2 = f2.get(), r3 = f3.get();
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error(), ask_error::exception);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error(), ask_error::actor_stopped);
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.error(), ask_error::actor_stopped);
  EXPECT_EQ(sys.stats().dead(drop_reason::receiver_stopped) - dead_before, 2u);
}

// ---- dead letters ----------------------------------------------------------------

TEST(ActorSystem, SendToStoppedActorIsDeadAndCounted) {
  actor_system sys(system_config{.threads = 2});
  auto c = sys.spawn<counter>();
  c.stop();
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
  const auto before = sys.stats().dead(drop_reason::receiver_stopped);
  EXPECT_EQ(c.tell(increment{}), send_result::dead);
  EXPECT_EQ(c.tell(increment{}), send_result::dead);
  EXPECT_EQ(sys.stats().dead(drop_reason::receiver_stopped), before + 2);
  c.stop();  // stopping twice is harmless
  EXPECT_EQ(sys.stats().stopped, 1u);
}

TEST(ActorSystem, AskToStoppedActorReportsActorStopped) {
  actor_system sys(system_config{.threads = 2});
  auto c = sys.spawn<counter>();
  c.stop();
  ASSERT_TRUE(sys.await_all_stopped(long_wait));
  auto r = c.ask(get_count{}, long_wait).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ask_error::actor_stopped);
}

// ---- shutdown -----------------------------------------------------------------

TEST(ActorSystem, ShutdownDestroysEveryActorState) {
  std::atomic<int> live{0};
  {
    actor_system sys(system_config{.threads = 2});
    std::vector<actor_ref<counter>> refs;
    for (int i = 0; i < 100; ++i) refs.push_back(sys.spawn<counter>(&live));
    for (int i = 0; i < 100; i += 3) {
      for (int k = 0; k < 50; ++k) refs[static_cast<std::size_t>(i)].tell(increment{});
    }
    EXPECT_EQ(live.load(), 100);
    sys.shutdown();
    EXPECT_EQ(live.load(), 0) << "shutdown returns after every state is destroyed";
    EXPECT_EQ(sys.stats().live, 0u);
    EXPECT_EQ(sys.stats().stopped, 100u);
    sys.shutdown();  // idempotent
    // Handles outlive the actors: sends are dead letters.
    EXPECT_EQ(refs[0].tell(increment{}), send_result::dead);
  }
  EXPECT_EQ(live.load(), 0);
}

TEST(ActorSystem, DestructorShutsDown) {
  std::atomic<int> live{0};
  {
    actor_system sys(system_config{.threads = 2});
    for (int i = 0; i < 50; ++i) sys.spawn<counter>(&live).tell(increment{});
    EXPECT_EQ(live.load(), 50);
  }
  EXPECT_EQ(live.load(), 0);
}

TEST(ActorSystem, SpawnAfterShutdownThrowsLogicError) {
  std::atomic<int> live{0};
  actor_system sys(system_config{.threads = 1});
  sys.shutdown();
  EXPECT_THROW(sys.spawn<counter>(&live), std::logic_error);
  EXPECT_EQ(live.load(), 0) << "the state built for the refused spawn is destroyed";
  EXPECT_EQ(sys.stats().spawned, 0u);
}

struct quitter : actor<quitter> {
  explicit quitter(actor_system* sys) : sys_(sys) {}
  void on(quit) { sys_->request_shutdown(); }
  bool on(get_count) {
    try {
      sys_->shutdown();
    } catch (const std::logic_error&) {
      return true;
    }
    return false;
  }
  actor_system* sys_;
};

TEST(ActorSystem, ShutdownFromAnActorThrows) {
  actor_system sys(system_config{.threads = 1});
  auto q = sys.spawn<quitter>(&sys);
  auto r = q.ask(get_count{}, long_wait).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(r.value()) << "shutdown() from a handler must throw std::logic_error";
}

TEST(ActorSystem, RequestShutdownFromAnActorEndsAwaitShutdown) {
  std::atomic<int> live{0};
  actor_system sys(system_config{.threads = 2});
  for (int i = 0; i < 10; ++i) sys.spawn<counter>(&live);
  auto q = sys.spawn<quitter>(&sys);
  auto waiter = std::async(std::launch::async, [&] { sys.await_shutdown(); });
  q.tell(quit{});
  const bool returned = waiter.wait_for(long_wait) == std::future_status::ready;
  if (!returned) sys.request_shutdown();  // unblock it, then fail
  waiter.get();
  ASSERT_TRUE(returned) << "await_shutdown did not return after request_shutdown from an actor";
  EXPECT_EQ(live.load(), 0);
  EXPECT_EQ(sys.stats().live, 0u);
  EXPECT_THROW(sys.spawn<counter>(), std::logic_error);
}

// ---- construction ----------------------------------------------------------------

struct throws_in_ctor : actor<throws_in_ctor> {
  explicit throws_in_ctor(std::atomic<int>* live) : token_(live) { throw std::runtime_error("ctor failed"); }
  void on(increment) {}
  live_token token_;
};

TEST(ActorSystem, ThrowingConstructorPropagatesAndLeaksNothing) {
  std::atomic<int> live{0};
  actor_system sys(system_config{.threads = 2});
  EXPECT_THROW(sys.spawn<throws_in_ctor>(&live), std::runtime_error);
  EXPECT_EQ(live.load(), 0);
  const auto st = sys.stats();
  EXPECT_EQ(st.spawned, 0u);
  EXPECT_EQ(st.live, 0u);
  // The system is still usable.
  auto c = sys.spawn<counter>();
  EXPECT_EQ(c.ask(get_count{}, long_wait).get().value(), 0);
}

struct defers_then_throws : actor<defers_then_throws> {
  explicit defers_then_throws(std::atomic<int>* live) : token_(live) {
    defer(increment{});  // the constructor may use self(): documented in actor.hpp
    throw std::runtime_error("ctor failed after defer");
  }
  void on(increment) {}
  live_token token_;
};

TEST(ActorSystem, ConstructorThatDefersThenThrowsLeavesNothingScheduled) {
  // BUG: a message an actor's constructor sends to itself (defer/self().tell, allowed by actor.hpp) schedules the
  // half-built cell on the pool before spawn_with has finished (actor_cell::enqueue -> schedule_hot from
  // typed_cell's constructor, before system_core::attach). When the constructor then throws, the cell is freed
  // while still queued; a worker later resumes the freed cell and, its depth never given back, yields it for ever.
  // This shows as a worker spinning on the freed cell (checked below); under ASan+UBSan the call through the dead
  // cell's vptr aborts the whole suite, so there it only runs when asked.
  if (troupe::test::address_sanitized && std::getenv("TROUPE_RUN_KNOWN_BUGS") == nullptr) {
    GTEST_SKIP() << "BUG (a worker resumes the freed cell of a failed spawn; UBSan aborts the run on the invalid "
                    "vptr; set TROUPE_RUN_KNOWN_BUGS=1 to run it)";
  }
  std::atomic<int> live{0};
  gate release, entered;  // outlive the system: a handler waits on them
  actor_system sys(system_config{.threads = 1});
  auto blocker = sys.spawn<troupe::test::recorder>(&release, &entered);
  gate_opener opener(release);
  ASSERT_TRUE(troupe::test::hold_actor(blocker, entered));  // keep the only worker busy
  EXPECT_THROW(sys.spawn<defers_then_throws>(&live), std::runtime_error);
  release.open();  // the worker now finds whatever the failed spawn queued
  auto r = blocker.ask(troupe::test::where{}, long_wait).get();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(live.load(), 0);
  EXPECT_EQ(sys.stats().spawned, 1u) << "only the blocker";
  // Nothing is left for the worker: an idle system burns no CPU.
  const auto burnt = troupe::test::cpu_burnt_while_sleeping(300ms);
  EXPECT_LT(burnt, 100ms) << "a worker keeps resuming the freed cell of the failed spawn";
}

// ---- defer ---------------------------------------------------------------------

struct deferrer : actor<deferrer> {
  deferrer(event_ref out, gate* release, gate* entered) : out_(std::move(out)), release_(release), entered_(entered) {}
  void on(troupe::test::hold) {
    entered_->open();
    if (!release_->wait_for(long_wait)) out_.tell(std::string("gate timed out"));
  }
  void on(kick) {
    out_.tell(std::string("kick"));
    EXPECT_EQ(defer(tag{"deferred"}), send_result::ok);
  }
  void on(tag t) { out_.tell(std::move(t.name)); }
  event_ref out_;
  gate* release_;
  gate* entered_;
};

TEST(ActorSystem, DeferArrivesAfterAlreadyQueuedMessages) {
  gate release, entered;
  actor_system sys(system_config{.threads = 2});
  event_inbox events(sys);
  gate_opener opener(release);
  auto d = sys.spawn<deferrer>(events.ref(), &release, &entered);
  d.tell(troupe::test::hold{});
  ASSERT_TRUE(entered.wait_for(long_wait));
  d.tell(kick{});
  d.tell(tag{"a"});
  d.tell(tag{"b"});
  release.open();
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) {
    auto e = events.receive(long_wait);
    ASSERT_TRUE(e.has_value()) << "after " << i << " events";
    got.push_back(*e);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"kick", "a", "b", "deferred"}));
}

struct self_flooder : actor<self_flooder> {
  explicit self_flooder(int n) : n_(n) {}
  int on(kick) {
    // Sends to its own (tiny, mute_sender) mailbox are never muted.
    int not_ok = 0;
    for (int i = 0; i < n_; ++i) not_ok += defer(increment{}) != send_result::ok;
    return not_ok;
  }
  void on(increment) { ++got; }
  int on(get_count) { return got; }
  int n_, got = 0;
};

TEST(ActorSystem, AnActorIsNeverMutedOnItself) {
  actor_system sys(system_config{.threads = 2});
  auto a = sys.spawn_with<self_flooder>({.mailbox = {.capacity = 4, .policy = troupe::overflow::mute_sender}}, 50);
  auto r = a.ask(kick{}, long_wait).get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 0);
  auto n = a.ask(get_count{}, long_wait).get();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value(), 50);
}

// ---- idle ----------------------------------------------------------------------

TEST(ActorSystem, IdleSystemBurnsNoCpu) {
  actor_system sys(system_config{.threads = 2});
  std::vector<actor_ref<counter>> refs;
  for (int i = 0; i < 200; ++i) refs.push_back(sys.spawn<counter>());
  for (auto& r : refs) r.tell(increment{});
  for (auto& r : refs) ASSERT_EQ(r.ask(get_count{}, long_wait).get().value(), 1);
  std::this_thread::sleep_for(300ms);  // settle: workers park
  const auto burnt = troupe::test::cpu_burnt_while_sleeping(1000ms);
  EXPECT_LT(burnt, troupe::test::idle_cpu_budget)
      << "an idle actor system used " << std::chrono::duration_cast<std::chrono::milliseconds>(burnt).count()
      << " ms of CPU in 1 s";
}

} // namespace
