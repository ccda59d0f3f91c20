// Faults between two real nodes, injected by a TCP proxy in the test process
// (tests/support/fault_proxy.hpp): connections cut on one side only, as a
// reset that reaches one end, or an end that was frozen, leaves them. The
// ctest label `fault`: run once by `scripts/dev.sh test`, not under the
// sanitizers.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <chrono>
#include <random>
#include <thread>

#include <signal.h>

#include "child_node.hpp"
#include "peer_events.hpp"
#include "fault_pair.hpp"

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

TEST_F(cut_links, ACutOnlyTheDiallerSawResumesTheSessionTheListenerStillHolds) {
  // beta would not hear the silence for a minute: alpha's redial names the
  // session, and beta moves it onto the new connection (before, its stale
  // connection refused the redial and, since beta never dialled, the two
  // stayed apart for good).
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
  ASSERT_TRUE(troupe::test::wait_until([&] { return a.stats().links_resumed == 1; }, 10s))
      << "alpha did not resume its link with beta";
  EXPECT_TRUE(troupe::test::wait_until([&] { return b.stats().links_resumed == 1; }, 5s));  // it counts after its WELCOME
  EXPECT_EQ(a.stats().links_interrupted, 1u);
  EXPECT_EQ(b.stats().links_interrupted, 0u);  // it never noticed: the redial told it
  EXPECT_GE(a.stats().reconnects, 1u);
  // The same peer handle goes on; nobody saw the peer down.
  EXPECT_TRUE(first.value().alive());
  expect_echo_adds(first.value());
  EXPECT_EQ(next_event(seen_a), "reconnected beta");
  EXPECT_EQ(next_event(seen_b), "reconnected alpha");
  EXPECT_EQ(next_event(seen_a, 100ms), "none");
  EXPECT_EQ(next_event(seen_b, 100ms), "none");
}

TEST_F(cut_links, AConnectFromTheSideThatWasDialledResumesTheSessionThePeerStillHolds) {
  // beta dialled alpha (through the proxy); only alpha sees the cut and
  // waits for beta to dial again. alpha's own connect to beta names the
  // session, and beta (which has not noticed) resumes it there.
  troupe::node a(sys_a, node_opts("alpha"));
  troupe::node b(sys_b, slow_to_notice("beta", 60s));
  b.publish("echo", sys_b.spawn<echo>());
  a.publish("echo", sys_a.spawn<echo>());
  troupe::test::fault_proxy proxy(a.port());
  auto from_b = b.connect("127.0.0.1", proxy.port(), 10s);
  ASSERT_TRUE(from_b.ok()) << from_b.message();
  ASSERT_TRUE(troupe::test::wait_until([&] { return a.find_peer("beta").has_value(); }, 10s));

  proxy.cut_listener_side();
  ASSERT_TRUE(troupe::test::wait_until([&] { return a.stats().links_interrupted == 1; }, 10s))
      << "alpha did not see the cut";
  auto p = a.connect("127.0.0.1", b.port(), 15s);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(a.stats().links_resumed, 1u);
  EXPECT_TRUE(troupe::test::wait_until([&] { return b.stats().links_resumed == 1; }, 5s));  // it counts after its WELCOME
  expect_echo_adds(p.value());
  expect_echo_adds(from_b.value());  // beta's handle from before the cut
  EXPECT_EQ(a.stats().sessions_down + b.stats().sessions_down, 0u);
}

TEST_F(cut_links, AFloodCutTwentyTimesArrivesWholeInOrderAndOnce) {
  // The case: a million messages while the connection is cut at
  // random points. Every one told ok arrives, once, in order; nobody is
  // declared down.
  const auto count = static_cast<std::int64_t>(troupe::test::scaled(1'000'000, 100'000));
  constexpr int cuts = 20;
  proxied_pair n(sys_a, sys_b);
  std::mt19937 rng(std::random_device{}());
  const auto c = flood_through_cuts(
      n, count, cuts,
      [&](int k) {  // a random point in the k-th twentieth of the flood
        return count * k / cuts + std::uniform_int_distribution<std::int64_t>(0, count / cuts - 1)(rng);
      },
      [&](int) { n.proxy->cut(); });
  EXPECT_EQ(c.n(), count);
  EXPECT_EQ(c.last_seq(), count - 1);
  EXPECT_TRUE(c.in_order());
  EXPECT_EQ(n.a.stats().sessions_down, 0u);
  EXPECT_EQ(n.b->stats().sessions_down, 0u);
  EXPECT_EQ(n.a.stats().unacknowledged_lost, 0u);
  EXPECT_GE(n.a.stats().links_interrupted, std::uint64_t(cuts));
  EXPECT_TRUE(n.to_b->alive());
  // Every message alpha sent is acknowledged once beta's last ACK is in
  // (with a heartbeat, at the latest): nothing in flight, nothing lost.
  EXPECT_TRUE(troupe::test::wait_until([&] { return n.a.stats().messages_in_flight == 0; }, 10s));
  const auto s = n.a.stats();
  EXPECT_EQ(s.messages_out, s.messages_acknowledged);
  EXPECT_GT(s.messages_out, std::uint64_t(count)) << "the pings and the asks that counted them";
}

TEST_F(cut_links, OneSidedCutsDuringAFloodLoseNothing) {
  // Each cut reaches one end only (alternating): the other holds a
  // connection that hears nothing until the redial resumes the session.
  const auto count = static_cast<std::int64_t>(troupe::test::scaled(300'000, 50'000));
  constexpr int cuts = 6;
  proxied_pair n(sys_a, sys_b);
  const auto c = flood_through_cuts(
      n, count, cuts, [&](int k) { return count * k / cuts; },
      [&](int k) {
        if (k % 2 == 0) {
          n.proxy->cut_dialler_side();
        } else {
          n.proxy->cut_listener_side();  // alpha hears nothing: its heartbeat times out
        }
      });
  EXPECT_EQ(c.n(), count);
  EXPECT_TRUE(c.in_order());
  EXPECT_EQ(n.a.stats().sessions_down + n.b->stats().sessions_down, 0u);
}

TEST_F(cut_links, AnAskInFlightAcrossAResumeGetsItsReply) {
  proxied_pair n(sys_a, sys_b);
  n.proxy->freeze(true);  // the ask waits in the resend buffer
  troupe_test::Add add;
  add.set_a(20);
  add.set_b(22);
  auto answer = n.echo.ask(add, 20s);
  n.proxy->cut();
  n.proxy->freeze(false);
  auto s = answer.get();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.value().value(), 42);
  EXPECT_EQ(n.a.stats().links_resumed, 1u);
}

TEST_F(cut_links, APeerNotBackWithinDownAfterIsDownAndWhatItDidNotAcknowledgeIsCounted) {
  // The proxy freezes (nothing is acknowledged any more) and then refuses
  // nothing but forwards nothing either: beta is silent. After the
  // heartbeat timeout and down_after alpha gives up: what beta never
  // acknowledged becomes counted dead letters, node_down.
  proxied_pair n(sys_a, sys_b);
  n.proxy->freeze(true);
  const std::int64_t count = 100;
  std::atomic<std::int64_t> sent{0};
  EXPECT_EQ(flood(n.echo, count, sent), 0);
  ASSERT_TRUE(troupe::test::wait_until([&] { return !n.to_b->alive(); }, 10s)) << "alpha never gave beta up";
  EXPECT_EQ(n.a.stats().links_interrupted, 1u);
  // The numbers reconcile exactly: what beta got plus the dead letters (all
  // of them: the proxy froze before the first was sent).
  auto got = n.echo_b.ask(troupe_test::Count{}, 10s).get();
  ASSERT_TRUE(got.ok()) << got.message();
  const auto lost = n.a.stats().unacknowledged_lost;
  EXPECT_EQ(std::uint64_t(got.value().n()) + lost, std::uint64_t(count));
  EXPECT_EQ(lost, std::uint64_t(count));
  EXPECT_EQ(sys_a.stats().dead_letters[static_cast<std::size_t>(troupe::drop_reason::node_down)], lost);
}

TEST_F(cut_links, APeerBackAfterItWasDeclaredDownServesTheHandlesMadeBefore) {
  // Frozen past down_after: alpha declares beta down. Thawed, the same beta
  // (the same incarnation) is dialled again: a new session, node_up, and
  // the handles alpha made before work again without a new lookup.
  proxied_pair n(sys_a, sys_b);
  troupe::inbox<std::string> seen(sys_a);
  n.a.subscribe(sys_a.spawn<peer_events>(seen.ref()));
  troupe_test::Ping ping;
  ASSERT_EQ(n.echo.tell(ping), troupe::send_result::ok);
  ASSERT_EQ(counted_by(n.echo, 1, 10s).n(), 1);
  n.proxy->freeze(true);
  const std::string down = next_event(seen);
  EXPECT_EQ(down.rfind("down beta", 0), 0u) << down;
  EXPECT_FALSE(n.to_b->alive());
  n.proxy->freeze(false);
  EXPECT_EQ(next_event(seen), "up beta");
  EXPECT_TRUE(n.to_b->alive()) << "the peer handle from connect() acts on the new session";
  ASSERT_EQ(n.echo.tell(ping), troupe::send_result::ok);
  EXPECT_EQ(counted_by(n.echo, 2, 10s).n(), 2) << "the ping after the return arrived through the old handle";
  EXPECT_EQ(n.a.stats().sessions_up, 2u);
}

TEST(frozen_peer, AListenerFrozenForThreeSecondsThreeTimesLosesNothingAndIsNeverDown) {
  // A child node frozen with SIGSTOP for 3 s, three times, while alpha
  // sends: alpha's heartbeat interrupts the link and it dials again; when
  // the child thaws, the session resumes (down_after is 5 s): nothing is
  // lost, nobody is declared down. (Before reliable links alpha declared it
  // down each time; earlier still the two could stay apart for good.)
  child_node child("frozen", 0, /*heartbeat_ms=*/100);
  troupe::actor_system sys{two_threads()};
  troupe::node_options o = node_opts("alpha");
  o.down_after = 5s;
  troupe::node a(sys, o);
  auto p = a.connect("127.0.0.1", child.port(), 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  auto e = p.value().lookup<echo>("echo", 10s);
  ASSERT_TRUE(e.ok()) << e.message();
  constexpr std::int64_t per_round = 1000;
  for (int round = 0; round < 3; ++round) {
    child.signal(SIGSTOP);
    ASSERT_TRUE(troupe::test::wait_until([&] { return a.stats().links_interrupted == std::uint64_t(round + 1); }, 10s))
        << "round " << round;
    for (std::int64_t i = 0; i < per_round; ++i) {
      troupe_test::Ping ping;
      ping.set_seq(round * per_round + i);
      ASSERT_TRUE(troupe::accepted(e.value().tell(ping)));
    }
    std::this_thread::sleep_for(3s);  // the fault itself: the child stays frozen for 3 s
    child.signal(SIGCONT);
    ASSERT_TRUE(troupe::test::wait_until([&] { return a.stats().links_resumed == std::uint64_t(round + 1); }, 15s))
        << "the link did not resume after round " << round;
  }
  const auto c = counted_by(e.value(), 3 * per_round, 30s);
  EXPECT_EQ(c.n(), 3 * per_round);
  EXPECT_TRUE(c.in_order());
  EXPECT_EQ(a.stats().sessions_down, 0u);
  EXPECT_TRUE(p.value().alive());
}

} // namespace
} // namespace transport_test
