// Remote handles across sessions: a handle (actor_ref or peer) made in one
// session with a peer works again in the next session with the same
// incarnation, after a node_down; monitors and links set before the down
// have fired and are set again (as in Erlang). A new incarnation of the
// peer ends the old one's handles for good.
#include <set>

#include "peer_events.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

using troupe_test::Count;
using troupe_test::Ping;

/// Two nodes whose alpha does not redial by itself: the test says when the
/// next session starts.
class sessions : public ::testing::Test {
 protected:
  sessions() {
    auto o = node_opts("alpha");
    o.reconnect = false;
    a.emplace(sys_a, o);
    b.emplace(sys_b, node_opts("beta"));
    echo_b = sys_b.spawn<echo>();
    b->publish("echo", echo_b);
    b->publish("other", sys_b.spawn<echo>(), troupe::remote_control::link);
    a->subscribe(sys_a.spawn<peer_events>(seen.ref()));
  }
  troupe::peer connect() {
    auto p = a->connect("127.0.0.1", b->port(), 10s);
    EXPECT_TRUE(p.ok()) << p.message();
    return p.ok() ? p.value() : troupe::peer();
  }
  std::uint64_t node_down_letters() const {
    return sys_a.stats().dead_letters[static_cast<std::size_t>(troupe::drop_reason::node_down)];
  }

  troupe::actor_system sys_a{two_threads()};
  troupe::actor_system sys_b{two_threads()};
  troupe::inbox<std::string> seen{sys_a};
  std::optional<troupe::node> a;
  std::optional<troupe::node> b;
  troupe::actor_ref<echo> echo_b;
};

TEST_F(sessions, AHandleMadeBeforeANodeDownWorksAgainWhenTheSameIncarnationComesBack) {
  troupe::peer pb = connect();
  ASSERT_EQ(next_event(seen), "up beta");
  auto e = pb.lookup<echo>("echo", 10s).value();
  ASSERT_EQ(e.tell(Ping{}), troupe::send_result::ok);
  events in(sys_a);
  auto w = sys_a.spawn<probe>(in.ref());
  auto l = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(w.ask(probe::watch{e}, 10s).get().ok());
  // (A link across the network is both ways: beta's actor gets the exit too.)
  auto other = pb.lookup<echo>("other", 10s).value();
  ASSERT_TRUE(l.ask(probe::link_to{other}, 10s).get().ok());
  ASSERT_EQ(other.ask(Count{}, 10s).get().value().n(), 0);  // the link reached beta
  ASSERT_EQ(e.ask(Count{}, 10s).get().value().n(), 1);

  pb.close("the test ends this session");
  EXPECT_EQ(next_event(seen).rfind("down beta", 0), 0u);
  // The monitor and the link set in that session have fired.
  EXPECT_EQ(node_down_kinds(in, 2), (std::multiset<std::string>{"down", "exit"}));
  // While no session serves beta, the handle refuses at once, counted.
  ASSERT_TRUE(troupe::test::wait_until([&] { return e.tell(Ping{}) == troupe::send_result::dead; }, 10s));
  EXPECT_GE(node_down_letters(), 1u);
  EXPECT_FALSE(pb.alive());
  auto late = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(late.ask(probe::watch{e}, 10s).get().ok());
  EXPECT_EQ(next(in).reason, troupe::exit_reason::node_down) << "a monitor set meanwhile fires at once";

  // The same beta (the same incarnation), a new session.
  troupe::peer again = connect();
  ASSERT_EQ(next_event(seen), "up beta") << "a new session is node_up, not a reconnect";
  EXPECT_EQ(again.incarnation(), pb.incarnation());
  EXPECT_TRUE(pb.alive()) << "the first peer handle acts on the session that serves now";
  EXPECT_EQ(e.tell(Ping{}), troupe::send_result::ok) << "accepted as soon as the session is up";
  auto n = e.ask(Count{}, 10s).get();
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(n.value().n(), 2) << "the ping before the down and the one after: nothing told meanwhile arrives";
  expect_echo_adds(pb);

  // Monitors are set again, and work in the new session.
  auto w2 = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(w2.ask(probe::watch{e}, 10s).get().ok());
  ASSERT_TRUE(e.ask(Count{}, 10s).get().ok());  // the monitor reached beta
  echo_b.kill();
  const event ev = next(in);
  EXPECT_EQ(ev.kind, "down");
  EXPECT_EQ(ev.reason, troupe::exit_reason::killed) << "the actor's own end, from beta, through the new session";
}

TEST_F(sessions, AHandleResolvedWhileThePeerIsDownIsServedByTheNextSession) {
  troupe::peer pb = connect();
  ASSERT_EQ(next_event(seen), "up beta");
  const std::uint64_t id = pb.lookup<echo>("echo", 10s).value().id();
  pb.close("gone for a while");
  EXPECT_EQ(next_event(seen).rfind("down beta", 0), 0u);
  auto e = pb.resolve<echo>(id);
  ASSERT_TRUE(troupe::test::wait_until([&] { return e.tell(Ping{}) == troupe::send_result::dead; }, 10s));
  (void)connect();
  ASSERT_EQ(next_event(seen), "up beta");
  auto n = e.ask(Count{}, 10s).get();
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(n.value().n(), 0) << "the pings told while beta was down were refused, not delivered";
}

TEST_F(sessions, ANewIncarnationOfThePeerEndsTheOldOnesHandlesForGood) {
  troupe::peer pb = connect();
  ASSERT_EQ(next_event(seen), "up beta");
  auto e = pb.lookup<echo>("echo", 10s).value();
  const std::uint64_t first = pb.incarnation();
  // beta restarts on the same port: a new process, as far as alpha knows.
  const std::uint16_t port = b->port();
  b.reset();
  EXPECT_EQ(next_event(seen).rfind("down beta", 0), 0u);
  auto o = node_opts("beta");
  o.listen_port = port;
  b.emplace(sys_b, o);
  b->publish("echo", sys_b.spawn<echo>());
  troupe::peer fresh = connect();
  ASSERT_EQ(next_event(seen), "up beta");
  EXPECT_NE(fresh.incarnation(), first);
  // The old handle's actor died with its process: it is closed, not rebound.
  ASSERT_TRUE(troupe::test::wait_until([&] { return e.metrics().closed; }, 10s));
  EXPECT_EQ(e.tell(Ping{}), troupe::send_result::dead);
  EXPECT_EQ(fresh.lookup<echo>("echo", 10s).value().ask(Count{}, 10s).get().value().n(), 0)
      << "nothing told to the old handle reached the new incarnation";
}

} // namespace
} // namespace transport_test
