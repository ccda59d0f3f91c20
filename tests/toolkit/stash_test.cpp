#include "toolkit.hpp"

namespace toolkit {
namespace {

struct open_cmd {};
struct close_cmd {};
struct item {
  int n;
};

/// Buffers items while closed (stash), handles them in order once open;
/// `open` switches behaviour, `close` goes back.
struct valve : troupe::actor<valve> {
  explicit valve(events_ref out) : out_(std::move(out)) {}
  void on(item) { stash(); }  // default behaviour: closed
  void on(close_cmd) {}
  void on(open_cmd) {
    become(troupe::behavior{
        [this](item i) { out_.tell(event{"item", std::to_string(i.n), {}, 0}); },
        [this](close_cmd) {
          out_.tell(event{"closed", "", {}, 0});
          unbecome();
        },
    });
    unstash_all();
  }
  void on(flush) { out_.tell(event{"flushed", "", {}, 0}); }
  events_ref out_;
};

TEST(Stash, StashedMessagesComeBackInOrderBeforeTheMailbox) {
  troupe::actor_system sys;
  events in(sys);
  auto v = sys.spawn<valve>(in.ref());
  for (int i = 0; i < 5; ++i) v.tell(item{i});
  v.tell(open_cmd{});
  v.tell(item{5});
  for (int i = 0; i <= 5; ++i) {
    const event e = next(in);
    EXPECT_EQ(e.kind, "item");
    EXPECT_EQ(e.detail, std::to_string(i));
  }
}

TEST(Stash, MoreStashedThanOneQuantumAllComeBackWithNoFurtherMessage) {
  // Unstashed messages are not in the depth word: an actor whose quantum
  // runs out among them must run again, though nothing else arrives.
  troupe::actor_system sys({.threads = 2, .quantum = 8});
  events in(sys);
  auto v = sys.spawn<valve>(in.ref());
  constexpr int n = 100;  // over twelve quanta
  for (int i = 0; i < n; ++i) v.tell(item{i});
  v.tell(open_cmd{});
  for (int i = 0; i < n; ++i) {
    const event e = next(in);
    ASSERT_EQ(e.kind, "item");
    ASSERT_EQ(e.detail, std::to_string(i));
  }
}

TEST(Stash, BecomeAndUnbecomeSwitchBehaviour) {
  troupe::actor_system sys;
  events in(sys);
  auto v = sys.spawn<valve>(in.ref());
  v.tell(open_cmd{});
  v.tell(item{1});
  v.tell(close_cmd{});
  v.tell(item{2});  // closed again: stashed
  v.tell(flush{});
  EXPECT_EQ(next(in).detail, "1");
  EXPECT_EQ(next(in).kind, "closed");
  EXPECT_EQ(next(in).kind, "flushed");
  v.tell(open_cmd{});
  EXPECT_EQ(next(in).detail, "2");
}

struct hoarder : troupe::actor<hoarder> {
  void on(item) { stash(); }
};

TEST(Stash, OverflowFailsTheActorAndIsCounted) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto h = sys.spawn_with<hoarder>({.mailbox = {.capacity = 4}});
  (void)w.ask(watcher::watch{h}, 10s).get();
  for (int i = 0; i < 5; ++i) h.tell(item{i});
  const event e = next(in);
  EXPECT_EQ(e.reason, troupe::exit_reason::exception);
  EXPECT_NE(e.detail.find("stash is full"), std::string::npos) << e.detail;
  // The four stashed messages became dead letters.
  EXPECT_TRUE(troupe::test::wait_until(
      [&] { return sys.stats().dead(troupe::drop_reason::receiver_stopped) >= 4; }, troupe::test::long_wait));
}

struct query {};

/// Answers queries later (a promise), and stashes them until it is ready.
struct late_oracle : troupe::actor<late_oracle> {
  troupe::promise<int> on(query) {
    if (!ready_) {
      stash();
      return {};
    }
    auto p = troupe::make_promise<int>();
    p.deliver(42);
    return p;
  }
  void on(open_cmd) {
    ready_ = true;
    unstash_all();
  }
  bool ready_ = false;
};

TEST(Stash, AStashedAskToAPromiseHandlerIsAnsweredOnItsReplay) {
  troupe::actor_system sys;
  auto o = sys.spawn<late_oracle>();
  auto answer = o.ask(query{}, 10s);
  o.tell(open_cmd{});
  const auto r = answer.get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 42);
}

} // namespace
} // namespace toolkit
