#include "toolkit.hpp"

namespace toolkit {
namespace {

/// Links itself to whoever it is told to.
struct partner : troupe::actor<partner> {
  void on(troupe::any_ref r) { link(r); }
  struct drop_link {
    troupe::any_ref r;
  };
  void on(drop_link d) { unlink(d.r); }
  int on(ping) { return 1; }
};

/// Like partner, but traps exits and reports them.
struct trapper : troupe::actor<trapper> {
  explicit trapper(events_ref out) : out_(std::move(out)) {}
  void on(troupe::any_ref r) { link(r); }
  int on(ping) { return 1; }
  void on(troupe::exit_msg e) { out_.tell(event{"exit", e.what, e.reason, e.from.id()}); }
  events_ref out_;
};

TEST(Link, AbnormalStopTakesTheLinkedActorDown) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto p = sys.spawn<partner>();
  auto v = sys.spawn<victim>();
  (void)w.ask(watcher::watch{p}, 10s).get();
  p.tell(troupe::any_ref(v));
  (void)p.ask(ping{}, 10s).get();  // the link is made
  v.tell(crash{"bad"});
  const event e = next(in);
  EXPECT_EQ(e.reason, troupe::exit_reason::exception);
  EXPECT_NE(e.detail.find("bad"), std::string::npos) << e.detail;
}

TEST(Link, NormalStopDoesNotPropagate) {
  troupe::actor_system sys;
  auto p = sys.spawn<partner>();
  auto v = sys.spawn<victim>();
  p.tell(troupe::any_ref(v));
  (void)p.ask(ping{}, 10s).get();
  v.tell(quit{});
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, troupe::test::long_wait));
  EXPECT_TRUE(p.ask(ping{}, 10s).get().ok());  // still alive
}

TEST(Link, TrappingActorReceivesExitAsMessage) {
  troupe::actor_system sys;
  events in(sys);
  auto t = sys.spawn<trapper>(in.ref());
  auto v = sys.spawn<victim>();
  t.tell(troupe::any_ref(v));
  (void)t.ask(ping{}, 10s).get();
  v.tell(crash{"trap me"});
  const event e = next(in);
  EXPECT_EQ(e.kind, "exit");
  EXPECT_EQ(e.reason, troupe::exit_reason::exception);
  EXPECT_EQ(e.id, v.id());
  EXPECT_TRUE(t.ask(ping{}, 10s).get().ok());
}

TEST(Link, IsBidirectional) {
  troupe::actor_system sys;
  events in(sys);
  auto t = sys.spawn<trapper>(in.ref());
  auto p = sys.spawn<partner>();
  t.tell(troupe::any_ref(p));  // t links to p; p must learn of it too
  (void)t.ask(ping{}, 10s).get();
  (void)p.ask(ping{}, 10s).get();
  p.kill();
  const event e = next(in);
  EXPECT_EQ(e.kind, "exit");
  EXPECT_EQ(e.reason, troupe::exit_reason::killed);
}

TEST(Link, UnlinkStopsPropagation) {
  troupe::actor_system sys;
  auto p = sys.spawn<partner>();
  auto v = sys.spawn<victim>();
  p.tell(troupe::any_ref(v));
  p.tell(partner::drop_link{v});
  (void)p.ask(ping{}, 10s).get();
  (void)v.ask(ping{}, 10s).get();  // v has handled both the link and the unlink
  v.tell(crash{});
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, troupe::test::long_wait));
  EXPECT_TRUE(p.ask(ping{}, 10s).get().ok());
}

TEST(Link, LinkingToAStoppedActorFiresAtOnce) {
  troupe::actor_system sys;
  events in(sys);
  auto v = sys.spawn<victim>();
  v.tell(crash{"gone"});
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, troupe::test::long_wait));
  auto t = sys.spawn<trapper>(in.ref());
  t.tell(troupe::any_ref(v));
  const event e = next(in);
  EXPECT_EQ(e.kind, "exit");
  EXPECT_EQ(e.detail, "gone");
}

} // namespace
} // namespace toolkit
