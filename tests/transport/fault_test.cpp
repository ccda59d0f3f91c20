// Faults between two real nodes, injected by a TCP proxy in the test process
// (tests/support/fault_proxy.hpp): connections cut on one side only, as a
// reset that reaches one end, or an end that was frozen, leaves them. The
// ctest label `fault`: run once by `scripts/dev.sh test`, not under the
// sanitizers.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <signal.h>

#include "child_node.hpp"
#include "peer_events.hpp"
#include "support/fault_proxy.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

/// A node that notices a silent peer only after `heartbeat_timeout`.
troupe::node_options slow_to_notice(std::string name, std::chrono::milliseconds heartbeat_timeout) {
  troupe::node_options o = node_opts(std::move(name));
  o.heartbeat_interval = 200ms;
  o.heartbeat_timeout = heartbeat_timeout;
  o.write_timeout = heartbeat_timeout + 1s;
  return o;
}

class cut_links : public ::testing::Test {
 protected:
  troupe::actor_system sys_a{two_threads()};
  troupe::actor_system sys_b{two_threads()};
};

TEST_F(cut_links, ARedialAfterACutOnlyTheDiallerSawReplacesTheConnectionTheListenerStillHolds) {
  // beta would not hear the silence for a minute: without the replacement,
  // its stale connection refuses alpha's redial and, since beta never
  // dialled, nobody dials again.
  troupe::node a(sys_a, node_opts("alpha"));
  troupe::node b(sys_b, slow_to_notice("beta", 60s));
  troupe::inbox<std::string> seen_a(sys_a);
  troupe::inbox<std::string> seen_b(sys_b);
  a.subscribe(sys_a.spawn<peer_events>(seen_a.ref()));
  b.subscribe(sys_b.spawn<peer_events>(seen_b.ref()));
  b.publish("echo", sys_b.spawn<echo>());
  troupe::test::fault_proxy proxy(b.port());
  auto first = a.connect("127.0.0.1", proxy.port(), 10s);
  ASSERT_TRUE(first.ok()) << first.message();
  expect_echo_adds(first.value());
  EXPECT_EQ(next_event(seen_a), "up beta");
  EXPECT_EQ(next_event(seen_b), "up alpha");

  proxy.cut_dialler_side();
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        auto p = a.find_peer("beta");
        return p && p->alive() && !first.value().alive();
      },
      10s))
      << "alpha did not reconnect to beta";
  expect_echo_adds(*a.find_peer("beta"));
  EXPECT_EQ(b.stats().stale_links_replaced, 1u);
  // Redials refused until beta's side had been silent for two heartbeats, then one replaced it.
  EXPECT_GE(proxy.accepted(), 2u);
  EXPECT_EQ(a.stats().dials_refused, proxy.accepted() - 2);
  EXPECT_GE(a.stats().reconnects, 1u);
  // alpha saw its connection end and a new one come; beta only the new one.
  const std::string down = next_event(seen_a);  // closed, or reset (the proxy had unread bytes)
  EXPECT_EQ(down.rfind("down beta: ", 0), 0u) << down;
  EXPECT_EQ(next_event(seen_a), "reconnected beta");
  EXPECT_EQ(next_event(seen_b), "reconnected alpha");
  EXPECT_EQ(next_event(seen_b, 100ms), "none");
}

TEST_F(cut_links, AConnectRefusedForAConnectionThePeerStillHoldsGoesOnUntilThePeerLetsGo) {
  // beta dialled alpha (through the proxy); only alpha sees the cut. beta,
  // which dialled the connection it still holds, refuses alpha's connect
  // until its heartbeat ends that connection; the connect goes on meanwhile
  // instead of failing "already connected" with no connection anywhere.
  troupe::node a(sys_a, node_opts("alpha"));
  troupe::node b(sys_b, slow_to_notice("beta", 2s));
  b.publish("echo", sys_b.spawn<echo>());
  troupe::test::fault_proxy proxy(a.port());
  auto from_b = b.connect("127.0.0.1", proxy.port(), 10s);
  ASSERT_TRUE(from_b.ok()) << from_b.message();
  ASSERT_TRUE(troupe::test::wait_until([&] { return a.find_peer("beta").has_value(); }, 10s));

  proxy.cut_listener_side();
  ASSERT_TRUE(troupe::test::wait_until([&] { return !a.find_peer("beta").has_value(); }, 10s)) << "alpha did not see the cut";
  ASSERT_TRUE(b.find_peer("alpha").has_value()) << "beta noticed the cut too early for this test";

  auto p = a.connect("127.0.0.1", b.port(), 15s);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_GE(a.stats().dials_refused, 1u);
  expect_echo_adds(p.value());
}

TEST(frozen_peer, AListenerFrozenForSecondsIsReconnectedEachTime) {
  // A child node frozen with SIGSTOP for 3 s, three times: alpha declares
  // it down after its heartbeat timeout and dials again meanwhile; when the
  // child thaws it holds the connection alpha gave up. Whether it reads that
  // connection's end or alpha's redial first is a race (the old code stayed
  // apart when the redial came first: 2 runs of 11 in the issue); the
  // one-sided cuts above force that order, this is the scenario itself.
  child_node child("frozen", 0, /*heartbeat_ms=*/100);
  troupe::actor_system sys{two_threads()};
  troupe::node a(sys, node_opts("alpha"));
  auto p = a.connect("127.0.0.1", child.port(), 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  expect_echo_adds(p.value());
  for (int round = 0; round < 3; ++round) {
    child.signal(SIGSTOP);
    ASSERT_TRUE(troupe::test::wait_until([&] { return !a.find_peer("frozen").has_value(); }, 10s)) << "round " << round;
    std::this_thread::sleep_for(3s);  // the fault itself: the child stays frozen for 3 s
    child.signal(SIGCONT);
    ASSERT_TRUE(troupe::test::wait_until([&] {
      auto q = a.find_peer("frozen");
      return q && q->alive();
    }, 15s)) << "alpha and the child stayed apart after round " << round;
    expect_echo_adds(*a.find_peer("frozen"));
  }
}

} // namespace
} // namespace transport_test
