// node::subscribe: peers coming up, going down and reconnecting, as
// messages to an actor.
#include "node/events.hpp"
#include "peer_events.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

TEST_F(two_nodes, SubscribersHearOfPeersComingUpAndGoingDown) {
  troupe::inbox<std::string> seen_a(sys_a);
  troupe::inbox<std::string> seen_b(sys_b);
  a->subscribe(sys_a.spawn<peer_events>(seen_a.ref()));
  b->subscribe(sys_b.spawn<peer_events>(seen_b.ref()));
  troupe::peer pb = connect_a_to_b();
  EXPECT_EQ(next_event(seen_a), "up beta");
  EXPECT_EQ(next_event(seen_b), "up alpha");
  pb.close("done with it");
  EXPECT_EQ(next_event(seen_a).rfind("down beta: closed: done with it", 0), 0u);
  const std::string b_saw = next_event(seen_b);
  EXPECT_EQ(b_saw.rfind("down alpha: the peer left", 0), 0u) << b_saw;
}

TEST_F(two_nodes, ARestartedPeerIsDownThenUpAsANewIncarnation) {
  troupe::inbox<std::string> seen(sys_a);
  a->subscribe(sys_a.spawn<peer_events>(seen.ref()));
  connect_a_to_b();
  ASSERT_EQ(next_event(seen), "up beta");
  // beta restarts on the same port: a new incarnation, which alpha redials.
  const std::uint16_t port = b->port();
  b.reset();
  const std::string down = next_event(seen);
  EXPECT_EQ(down.rfind("down beta", 0), 0u) << down;
  auto o = node_opts("beta");
  o.listen_port = port;
  b = std::make_unique<troupe::node>(sys_b, o);
  EXPECT_EQ(next_event(seen), "up beta");  // not "reconnected": another incarnation
}

TEST(NodeEvents, AStoppedSubscriberIsForgottenBeforeTheNextEvent) {
  troupe::actor_system sys{two_threads()};
  troupe::inbox<std::string> seen(sys);
  auto s = sys.spawn<peer_events>(seen.ref());
  troupe::transport::node_events events;
  int delivered = 0;
  events.subscribe(troupe::detail::cell_ptr(s.cell()), [&](const troupe::transport::peer_event&) { ++delivered; });
  events.up("beta", 7);
  EXPECT_EQ(delivered, 1);
  s.stop();
  ASSERT_TRUE(troupe::test::wait_until([&] { return s.cell()->box().is_closed(); }, troupe::test::long_wait));
  events.down("beta", 7, "gone");
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(events.subscribers(), 0u);
}

TEST(NodeEvents, AResumedSessionIsAReconnectAnyNewSessionIsUp) {
  troupe::transport::node_events events;
  troupe::actor_system sys{two_threads()};
  troupe::inbox<std::string> seen(sys);
  auto s = sys.spawn<peer_events>(seen.ref());
  std::vector<std::string> kinds;
  events.subscribe(troupe::detail::cell_ptr(s.cell()), [&](const troupe::transport::peer_event& e) {
    kinds.push_back(e.index() == 0 ? "up" : e.index() == 1 ? "down" : "reconnected");
  });
  events.up("beta", 7);
  events.up("beta", 7);  // its session resumed
  events.down("beta", 7, "not back in time");
  events.up("beta", 7);  // the same process, a new session
  events.down("beta", 7, "replaced by a new incarnation");
  events.up("beta", 8);  // a restart
  EXPECT_EQ(kinds, (std::vector<std::string>{"up", "reconnected", "down", "up", "down", "up"}));
}

} // namespace
} // namespace transport_test
