// What another node may do to a published actor: send it what its
// remote_interface lists and monitor it, always; stop it or link to it only
// when its publication allows (node::publish, troupe::remote_control). A
// published actor that stopped is no longer found.
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

using troupe_test::Count;

TEST_F(two_nodes, AStopOrALinkFromAnotherNodeIsRefusedUnlessThePublicationAllowsIt) {
  // Before, any peer with the cookie could stop a published actor, or kill
  // it with a LINK from a made-up actor followed by hanging up.
  auto guarded = sys_b.spawn<echo>();
  b->publish("guarded", guarded);
  troupe::peer pb = connect_a_to_b();
  auto g = pb.lookup<echo>("guarded", 10s).value();
  g.stop();
  events in(sys_a);
  auto l = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(l.ask(probe::link_to{g}, 10s).get().ok());
  const event refused = next(in);
  EXPECT_EQ(refused.kind, "exit") << "the linking actor hears at once that there is no link";
  EXPECT_EQ(refused.what, "linking to this actor from another node is not allowed");
  ASSERT_TRUE(troupe::test::wait_until([&] { return b->stats().remote_control_refused == 2; }, 10s));
  auto alive = g.ask(Count{}, 10s).get();
  EXPECT_TRUE(alive.ok()) << "the STOP was refused: " << alive.message();
  // The peer goes: nothing of it was linked, so the actor lives on.
  a.reset();
  EXPECT_TRUE(guarded.ask(Count{}, 10s).get().ok());

  // Allowed, the same requests work.
  a = std::make_unique<troupe::node>(sys_a, node_opts("alpha"));
  auto open = sys_b.spawn<echo>();
  b->publish("open", open, troupe::remote_control::stop | troupe::remote_control::link);
  auto o = connect_a_to_b().lookup<echo>("open", 10s).value();
  auto w = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(w.ask(probe::watch{o}, 10s).get().ok());
  o.stop();
  const event down = next(in);
  EXPECT_EQ(down.kind, "down");
  EXPECT_EQ(down.reason, troupe::exit_reason::stopped);
  EXPECT_EQ(b->stats().remote_control_refused, 2u);
}

TEST_F(two_nodes, APublishedActorThatStoppedIsNoLongerFound) {
  auto e = sys_b.spawn<echo>();
  b->publish("echo", e);
  troupe::peer pb = connect_a_to_b();
  ASSERT_TRUE(pb.lookup<echo>("echo", 10s).ok());
  e.stop();
  ASSERT_TRUE(troupe::test::wait_until([&] { return e.cell()->box().is_closed(); }, 10s));
  auto r = pb.lookup<echo>("echo", 10s);
  ASSERT_FALSE(r.ok()) << "a stopped actor was still published";
  EXPECT_EQ(r.error(), troupe::errc::not_published);
}

TEST_F(two_nodes, SendersOnAnotherNodeToAPublishedActorThatStoppedAreToldDead) {
  // Before, their tells said ok for ever, each message a dead letter on
  // the other node only. The first message that finds the actor gone
  // brings back a DOWN that closes the handle, with the actor's reason.
  auto e = sys_b.spawn<echo>();
  b->publish("echo", e);
  b->publish("other", sys_b.spawn<echo>());
  troupe::peer pb = connect_a_to_b();
  auto there = pb.lookup<echo>("echo", 10s);
  ASSERT_TRUE(there.ok()) << there.message();
  troupe_test::Ping ping;
  ASSERT_TRUE(there.value().ask(ping, 10s).get().ok()) << "the handle (and a cached route on beta) work";
  e.stop();
  ASSERT_TRUE(troupe::test::wait_until([&] { return e.cell()->box().is_closed(); }, 10s));
  std::uint64_t ok_after_stop = 0;
  const bool told = troupe::test::wait_until(
      [&] {
        const auto r = there.value().tell(ping);
        if (troupe::accepted(r)) ++ok_after_stop;
        return r == troupe::send_result::dead;
      },
      10s);
  EXPECT_TRUE(told) << ok_after_stop << " tells said ok after the actor stopped";
  EXPECT_FALSE(pb.lookup<echo>("echo", 10s).ok());
  // Only that actor is gone, not the link: another one still answers.
  auto other = pb.lookup<echo>("other", 10s);
  ASSERT_TRUE(other.ok()) << other.message();
  EXPECT_TRUE(other.value().ask(ping, 10s).get().ok());
}

} // namespace
} // namespace transport_test
