// Tests of troupe/actors/ref.hpp: handles typed by what they accept, made
// from actors of different classes and from inboxes.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"

namespace {

using namespace troupe::test::prelude;
using troupe::inbox;
using troupe::ref;

struct token {
  int laps_left;
};
struct name_q {};

/// What the ring passes around: anything that takes a token and says its name.
using hop = ref<token, std::string(name_q)>;

/// A link of a ring: passes the token on to its successor, another link or the master.
struct ring_link : actor<ring_link> {
  explicit ring_link(hop next) : next_(std::move(next)) {}
  void on(token t) { next_.tell(t); }
  std::string on(name_q) { return "link"; }
  hop next_;
};

/// The ring's master (another class): counts laps and reports the end to `done`.
struct ring_master : actor<ring_master> {
  explicit ring_master(ref<int> done) : done_(std::move(done)) {}
  struct start {
    hop first;
    int laps;
  };
  void on(start s) {
    first_ = std::move(s.first);
    first_.tell(token{s.laps});
  }
  void on(token t) {
    ++seen_;
    if (t.laps_left <= 1) {
      done_.tell(seen_);
    } else {
      first_.tell(token{t.laps_left - 1});
    }
  }
  std::string on(name_q) { return "master"; }
  ref<int> done_;
  hop first_;
  int seen_ = 0;
};

TEST(TypedRef, ARingOfTwoClassesPassesATokenThroughOneHandleType) {
  actor_system sys(system_config{.threads = 2});
  inbox<int> done(sys);
  auto master = sys.spawn<ring_master>(done.ref());  // an inbox's handle converts to ref<int>
  hop next = master;
  for (int i = 0; i < 5; ++i) next = sys.spawn<ring_link>(next);
  master.tell(ring_master::start{next, 100});
  EXPECT_EQ(done.receive(long_wait), 100);
}

TEST(TypedRef, AsksFromOutsideThroughTheListedReply) {
  actor_system sys(system_config{.threads = 2});
  inbox<int> done(sys);
  hop m = sys.spawn<ring_master>(done.ref());
  hop l = sys.spawn<ring_link>(m);
  EXPECT_EQ(m.ask(name_q{}, long_wait).get().value(), "master");
  EXPECT_EQ(l.ask(name_q{}, long_wait).get().value(), "link");
}

/// Asks whatever it was given, with a continuation and with co_await.
struct asker : actor<asker> {
  struct both {
    hop whom;
  };
  troupe::task<std::string> on(both b) {
    auto first = co_await ask(b.whom, name_q{}, long_wait);
    co_return first ? *first : std::string("failed");
  }
  struct by_continuation {
    hop whom;
  };
  troupe::promise<std::string> on(by_continuation b) {
    auto p = make_promise<std::string>();
    ask(b.whom, name_q{}, long_wait, [p](result<std::string> r) { p.settle(std::move(r)); });
    return p;
  }
};

TEST(TypedRef, AnActorAsksThroughItWithAContinuationOrCoAwait) {
  actor_system sys(system_config{.threads = 2});
  inbox<int> done(sys);
  hop m = sys.spawn<ring_master>(done.ref());
  hop l = sys.spawn<ring_link>(m);
  auto a = sys.spawn<asker>();
  EXPECT_EQ(a.ask(asker::both{m}, long_wait).get().value(), "master");
  EXPECT_EQ(a.ask(asker::by_continuation{l}, long_wait).get().value(), "link");
}

TEST(TypedRef, NarrowsComparesAndForgetsItsType) {
  actor_system sys(system_config{.threads = 2});
  inbox<int> done(sys);
  auto master = sys.spawn<ring_master>(done.ref());
  hop h = master;
  ref<token> only_tokens = h;  // a ref listing more converts to one listing less
  ref<std::string(name_q)> only_names = h;
  EXPECT_EQ(only_names.ask(name_q{}, long_wait).get().value(), "master");
  troupe::any_ref any = only_tokens;
  EXPECT_TRUE(any == master);
  EXPECT_TRUE(h == hop(master));
  EXPECT_EQ(h.id(), master.id());

  master.tell(ring_master::start{h, 1});  // the master's own token comes back to it once
  EXPECT_EQ(done.receive(long_wait), 1);

  ref<token> empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.tell(token{1}), send_result::dead);
  EXPECT_EQ(ref<std::string(name_q)>{}.ask(name_q{}, long_wait).get().error(), ask_error::actor_stopped);
}

TEST(TypedRef, MonitoringThroughItSeesTheActorStop) {
  actor_system sys(system_config{.threads = 2});
  inbox<int> done(sys);
  hop h = sys.spawn<ring_master>(done.ref());
  inbox<troupe::down> watch(sys);
  watch.monitor(h);
  h.stop();
  auto d = watch.receive(long_wait);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->actor == troupe::any_ref(h));
  EXPECT_EQ(h.tell(token{1}), send_result::dead);
}

} // namespace
