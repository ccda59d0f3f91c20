// Faults inside a connection, between two real nodes, injected by a framed
// proxy in the test process (tests/support/fault_proxy.hpp): one frame
// dropped, repeated or held back behind the next, as a faulty path or
// middlebox would; a slow path; and a peer restarted as a new incarnation
// in the middle of a flood. The ctest label `fault`: run once by
// `scripts/dev.sh test`, not under the sanitizers.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "fault_pair.hpp"
#include "protocol/frame.hpp"

namespace transport_test {
namespace {

using troupe::test::frame_fault;
using troupe::test::toward;
using troupe::transport::frame_kind;

class wire_faults : public ::testing::Test {
 protected:
  troupe::actor_system sys_a{two_threads()};
  troupe::actor_system sys_b{two_threads()};
};

constexpr auto kind_of(frame_kind k) { return static_cast<std::uint8_t>(k); }

/// Floods `count` pings from alpha to beta while `fault` hits one frame;
/// every ping must arrive once, in order, with nobody declared down.
void expect_flood_survives(proxied_pair& n, std::int64_t count) {
  std::atomic<std::int64_t> sent{0};
  EXPECT_EQ(flood(n.echo, count, sent), 0);
  const auto c = counted_by(n.echo, count, 60s);
  EXPECT_EQ(c.n(), count);
  EXPECT_EQ(c.last_seq(), count - 1);
  EXPECT_TRUE(c.in_order());
  EXPECT_EQ(n.a.stats().sessions_down + n.b->stats().sessions_down, 0u);
  EXPECT_EQ(n.a.stats().unacknowledged_lost, 0u);
}

TEST_F(wire_faults, ALostCreditGrantIsCaughtAndTheFlowGoesOn) {
  // The stall: one FLOW_CREDIT frame lost used to stop the sender
  // for good while heartbeats kept the link looking healthy. Now the next
  // frame beta sends is out of sequence at alpha: the link resumes and
  // beta sends the grant again.
  proxied_pair n(sys_a, sys_b, /*framed=*/true);
  n.proxy->inject(toward::dialler, frame_fault::drop, kind_of(frame_kind::flow_credit));
  expect_flood_survives(n, troupe::test::scaled(200'000, 50'000));
  EXPECT_EQ(n.proxy->injected(), 1u) << "no grant went by: the test proves nothing";
  EXPECT_GE(n.a.stats().out_of_sequence, 1u);
  EXPECT_GE(n.a.stats().links_resumed, 1u);
  EXPECT_EQ(n.a.stats().credit_stalls, 0u);
}

class one_frame : public wire_faults, public ::testing::WithParamInterface<frame_fault> {};

TEST_P(one_frame, AMessageFrameLostRepeatedOrReorderedIsCaughtAndNothingIsLostOrRepeated) {
  proxied_pair n(sys_a, sys_b, /*framed=*/true);
  n.proxy->inject(toward::listener, GetParam(), kind_of(frame_kind::message));
  expect_flood_survives(n, troupe::test::scaled(100'000, 20'000));
  EXPECT_EQ(n.proxy->injected(), 1u);
  EXPECT_EQ(n.b->stats().out_of_sequence, 1u) << "beta reads the bad frame and ends the connection there";
  EXPECT_GE(n.a.stats().links_resumed, 1u);
}

INSTANTIATE_TEST_SUITE_P(faults, one_frame,
                         ::testing::Values(frame_fault::drop, frame_fault::duplicate, frame_fault::reorder),
                         [](const auto& info) {
                           switch (info.param) {
                             case frame_fault::drop: return std::string("drop");
                             case frame_fault::duplicate: return std::string("duplicate");
                             case frame_fault::reorder: return std::string("reorder");
                           }
                           return std::string("unknown");
                         });

TEST_F(wire_faults, AReplyFrameLostOnTheWayBackIsResentAndTheAskAnswered) {
  proxied_pair n(sys_a, sys_b, /*framed=*/true);
  n.proxy->inject(toward::dialler, frame_fault::drop, kind_of(frame_kind::reply));
  troupe_test::Add add;
  add.set_a(40);
  add.set_b(2);
  auto s = n.echo.ask(add, 20s).get();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.value().value(), 42);
  EXPECT_EQ(n.proxy->injected(), 1u);
  // Caught when beta's next frame (its heartbeat, at the latest) arrives.
  EXPECT_GE(n.a.stats().out_of_sequence, 1u);
}

TEST_F(wire_faults, ASlowPathDelaysButLosesNothing) {
  proxied_pair n(sys_a, sys_b);
  n.proxy->delay(20ms);  // each chunk, each way: acknowledgements and heartbeats too
  expect_flood_survives(n, troupe::test::scaled(100'000, 20'000));
  EXPECT_EQ(n.a.stats().links_interrupted, 0u) << "20 ms is far inside the heartbeat timeout";
}

TEST_F(wire_faults, ALinkResumesAfterACutEvenWhenReconnectIsOff) {
  // node_options::reconnect is about peers that went down; an interrupted
  // link is dialled again to resume it all the same.
  auto alpha = node_opts("alpha");
  alpha.reconnect = false;
  alpha.handshake_timeout = 300ms;  // well inside both sides' down_after (1 s)
  proxied_pair n(sys_a, sys_b, /*framed=*/false, alpha);
  // The first redial (at once) reaches a frozen proxy and times out; the
  // next ones, with backoff, must still be made.
  n.proxy->freeze(true);
  n.proxy->cut();
  ASSERT_TRUE(troupe::test::wait_until([&] { return n.a.stats().handshake_timeouts >= 1; }, 10s));
  n.proxy->freeze(false);
  ASSERT_TRUE(troupe::test::wait_until([&] { return n.a.stats().links_resumed == 1; }, 10s));
  expect_flood_survives(n, 1000);
}

TEST_F(wire_faults, ADiallingPeerThatIsGoneIsDownOnTheSideItDialledAsSoonAsItsAddressRefuses) {
  // beta was dialled, so it does not dial back; alpha's HELLO said where
  // alpha listens. alpha's process ends without a word (the proxy holds
  // its GOODBYE), and beta, seeing only a cut, probes that address: it
  // refuses, so alpha is gone now, not after down_after (30 s here).
  auto beta_opts = node_opts("beta");
  beta_opts.down_after = 30s;
  troupe::node b(sys_b, beta_opts);
  troupe::test::fault_proxy proxy(b.port());
  std::optional<troupe::node> a(std::in_place, sys_a, node_opts("alpha"));
  ASSERT_TRUE(a->connect("127.0.0.1", proxy.port(), 10s).ok());
  ASSERT_TRUE(troupe::test::wait_until([&] { return b.find_peer("alpha").has_value(); }, 10s));
  const troupe::peer from_b = *b.find_peer("alpha");
  proxy.freeze(true);
  a.reset();
  const auto t0 = std::chrono::steady_clock::now();
  proxy.cut();
  ASSERT_TRUE(troupe::test::wait_until([&] { return !from_b.alive(); }, 20s)) << "beta never gave alpha up";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(b.stats().links_interrupted, 1u) << "a cut interrupts; the probe ends it";
}

TEST_F(wire_faults, APeerRestartedMidFloodReconcilesExactly) {
  // beta's process ends without a word (the proxy holds its GOODBYE) and a
  // new beta, a new incarnation, listens on the same port. alpha redials,
  // finds the new incarnation: the old session is gone for good. Every
  // message told ok is either acknowledged by the old beta or a counted
  // dead letter, and the old beta got every one it acknowledged, in order.
  proxied_pair n(sys_a, sys_b);
  const auto count = static_cast<std::int64_t>(troupe::test::scaled(300'000, 50'000));
  const std::uint16_t port = n.b->port();
  std::atomic<std::int64_t> sent{0};
  std::int64_t refused = -1;
  std::thread sender([&] { refused = flood(n.echo, count, sent); });
  troupe::test::wait_until([&] { return sent.load() >= count / 3; }, 60s);
  n.proxy->freeze(true);
  n.b.reset();  // its goodbye stays in the frozen proxy
  auto opts = node_opts("beta");
  opts.listen_port = port;
  troupe::node reborn(sys_b, opts);
  n.proxy->cut();  // alpha sees a cut, not a goodbye
  n.proxy->freeze(false);
  sender.join();
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        auto p = n.a.find_peer("beta");
        return p && p->incarnation() == reborn.incarnation();
      },
      20s))
      << "alpha never reached the new beta";
  const auto got = n.echo_b.ask(troupe_test::Count{}, 10s).get();
  ASSERT_TRUE(got.ok()) << got.message();
  const auto delivered = static_cast<std::uint64_t>(got.value().n());
  const auto s = n.a.stats();
  const auto dead = sys_a.stats().dead_letters[static_cast<std::size_t>(troupe::drop_reason::node_down)];
  EXPECT_EQ(s.messages_in_flight, 0u);
  EXPECT_EQ(s.messages_out, s.messages_acknowledged + s.unacknowledged_lost);
  // alpha's books: each tell was acknowledged or is a node_down dead letter
  // (lost unacknowledged, queued when beta went down, or refused after:
  // `tell` said `dead` for those).
  EXPECT_EQ(static_cast<std::uint64_t>(count), s.messages_acknowledged + dead);
  EXPECT_LE(static_cast<std::uint64_t>(refused), dead);
  EXPECT_GT(s.unacknowledged_lost, 0u) << "the restart hit nothing in flight: the test proves nothing";
  // beta's: all it acknowledged, in order; beyond that only what it got
  // and could not acknowledge before it went (counted lost at alpha: the
  // one overlap no sender can tell from a loss).
  EXPECT_TRUE(got.value().in_order());
  EXPECT_GE(delivered, s.messages_acknowledged);
  EXPECT_LE(delivered, s.messages_acknowledged + s.unacknowledged_lost);
  EXPECT_FALSE(n.to_b->alive());
}

} // namespace
} // namespace transport_test
