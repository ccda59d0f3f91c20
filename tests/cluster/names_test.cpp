// Cluster-wide names on a real etcd: found from every member, typed,
// exclusive, and gone with their holder.
#include <gtest/gtest.h>

#include <future>

#include "cluster_fixture.hpp"
#include "transport/test_actors.hpp"

namespace cluster_test {

TEST(ClusterNames, ANameIsFoundFromEveryMemberHeldByOneAndGoesWithItsHolder) {
  troupe::test::etcd_server etcd;
  auto a = std::make_unique<member_node>("alpha", std::vector<std::string>{etcd.endpoint()});
  member_node b("beta", {etcd.endpoint()});
  ASSERT_TRUE(a->c->wait_joined(10s));
  ASSERT_TRUE(b.c->wait_joined(10s));
  ASSERT_EQ(next_event(b.events), "up alpha 1");

  auto ledger = a->sys.spawn<troupe_test::echo>();
  auto put = a->c->put("ledger", ledger);
  ASSERT_TRUE(put.ok()) << put.message();

  // From the other member: a remote handle that works.
  auto remote = b.c->get<troupe_test::echo>("ledger");
  ASSERT_TRUE(remote.ok()) << remote.message();
  troupe_test::Ping ping;
  ping.set_seq(7);
  auto pong = remote->ask(ping, 10s).get();
  ASSERT_TRUE(pong.ok()) << pong.message();
  EXPECT_EQ(pong->seq(), 7);
  // Without blocking: the outcome comes to a callback.
  std::promise<troupe::result<troupe::actor_ref<troupe_test::echo>>> got;
  b.c->get_then<troupe_test::echo>("ledger", 5s, [&](troupe::result<troupe::actor_ref<troupe_test::echo>> r) {
    got.set_value(std::move(r));
  });
  auto fut = got.get_future();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  auto later = fut.get();
  ASSERT_TRUE(later.ok()) << later.message();
  EXPECT_TRUE(later->ask(ping, 10s).get().ok());
  // From its holder: the local actor itself.
  auto local = a->c->get<troupe_test::echo>("ledger");
  ASSERT_TRUE(local.ok()) << local.message();
  EXPECT_EQ(*local, ledger);

  // Held by one member: another is refused, naming the holder.
  auto other = b.c->put("ledger", b.sys.spawn<troupe_test::echo>());
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error(), troupe::errc::name_taken);
  EXPECT_NE(std::string(other.message()).find("alpha"), std::string::npos) << other.message();
  // A name nobody holds.
  EXPECT_EQ(b.c->get<troupe_test::echo>("nobody").error(), troupe::errc::not_published);

  // Its holder leaves: the name goes with it.
  a->c->leave();
  ASSERT_EQ(next_event(b.events), "left alpha 1");
  EXPECT_EQ(b.c->get<troupe_test::echo>("ledger").error(), troupe::errc::not_published);
  auto again = b.c->put("ledger", b.sys.spawn<troupe_test::echo>());
  EXPECT_TRUE(again.ok()) << again.message();
}

TEST(ClusterNames, ANameAskedForAsAnotherTypeIsRefused) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()});
  ASSERT_TRUE(a.c->wait_joined(10s));
  ASSERT_TRUE(a.c->put("ledger", a.sys.spawn<troupe_test::echo>()).ok());
  EXPECT_EQ(a.c->get<session>("ledger").error(), troupe::errc::interface_mismatch);
}

} // namespace cluster_test
