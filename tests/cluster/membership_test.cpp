// Cluster membership against a real etcd on loopback: joining, events,
// a graceful leave, a death (kill -9 of a member process), etcd restarted
// within the TTL and down for longer, a lease lost and the member joining
// again under a new epoch, and bad options.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "cluster_fixture.hpp"
#include "transport/test_actors.hpp"

namespace cluster_test {

namespace {

using clock = std::chrono::steady_clock;

std::set<std::string> names(const std::vector<troupe::member>& ms) {
  std::set<std::string> out;
  for (const auto& m : ms) out.insert(m.name);
  return out;
}

/// Waits until `pred` holds (true) or `within` passed (false); polls a
/// condition another thread moves, with a bound.


} // namespace

TEST(ClusterMembership, ThreeMembersJoinEachSeesTheOthersAndTheyConnect) {
  troupe::test::etcd_server etcd;
  // One after the other, so their age is known.
  member_node a("alpha", {etcd.endpoint()});
  ASSERT_TRUE(a.c->wait_joined(10s));
  member_node b("beta", {etcd.endpoint()});
  ASSERT_TRUE(b.c->wait_joined(10s));
  member_node c("gamma", {etcd.endpoint()});
  ASSERT_TRUE(c.c->wait_joined(10s));
  // Each hears member_up for the two others, once each.
  for (auto* m : {&a, &b, &c}) {
    std::multiset<std::string> seen = {next_event(m->events), next_event(m->events)};
    std::multiset<std::string> want;
    for (auto* o : {&a, &b, &c}) {
      if (o != m) want.insert("up " + o->n.name() + " 1");
    }
    EXPECT_EQ(seen, want) << m->n.name();
    EXPECT_EQ(next_event(m->events, 300ms), "none") << m->n.name();
  }
  for (auto* m : {&a, &b, &c}) {
    ASSERT_TRUE(eventually([&] { return m->c->members().size() == 3; })) << m->n.name();
    EXPECT_EQ(names(m->c->members()), (std::set<std::string>{"alpha", "beta", "gamma"}));
    EXPECT_FALSE(m->c->fenced());
    EXPECT_EQ(m->c->epoch(), 1u);
    // And its metrics say so.
    const std::string text = m->sys.metrics_text();
    EXPECT_NE(text.find("troupe_cluster_members{node=\"" + m->n.name() + "\"} 3\n"), std::string::npos) << text;
  }
  // Oldest first, the same order on every member.
  for (auto* m : {&a, &b, &c}) {
    const auto ms = m->c->members();
    ASSERT_EQ(ms.size(), 3u);
    EXPECT_EQ(ms[0].name + ms[1].name + ms[2].name, "alphabetagamma") << m->n.name();
    EXPECT_LT(ms[0].since, ms[1].since);
  }
  // The members connected to each other through their nodes (the one whose
  // name sorts first dials), with no connect() by the application.
  for (auto* m : {&a, &b, &c}) {
    for (auto* o : {&a, &b, &c}) {
      if (o == m) continue;
      EXPECT_TRUE(eventually([&] { return m->n.find_peer(o->n.name()).has_value(); }))
          << m->n.name() << " has no link to " << o->n.name();
    }
  }
}

TEST(ClusterMembership, ASubscriberLateToTheClusterHearsOfTheMembersAlreadyThere) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()});
  member_node b("beta", {etcd.endpoint()});
  ASSERT_TRUE(a.c->wait_joined(10s));
  ASSERT_TRUE(b.c->wait_joined(10s));
  ASSERT_TRUE(eventually([&] { return a.c->members().size() == 2; }));
  troupe::inbox<std::string> late(a.sys);
  a.c->subscribe(a.sys.spawn<member_events>(late.ref()));
  EXPECT_EQ(next_event(late), "up beta 1");
  EXPECT_EQ(next_event(late, 300ms), "none");
}

TEST(ClusterMembership, AGracefulLeaveIsSeenAtOnceAsLeft) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()}, 10s);
  auto b = std::make_unique<member_node>("beta", std::vector<std::string>{etcd.endpoint()}, 10s);
  ASSERT_EQ(next_event(a.events), "up beta 1");
  const auto t0 = clock::now();
  b->c->leave();
  EXPECT_EQ(next_event(a.events), "left beta 1");
  // "At once": long before the 10 s TTL could have said so.
  EXPECT_LT(clock::now() - t0, 3s);
  EXPECT_EQ(names(a.c->members()), std::set<std::string>{"alpha"});
  EXPECT_EQ(a.c->stats().members_left, 1u);
  EXPECT_EQ(a.c->stats().members_down, 0u);
}

TEST(ClusterMembership, AKilledMemberIsSeenDownWithinTheTtlAndASecond) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()}, 2s);
  member_process b("beta", etcd.endpoint(), 2s);
  ASSERT_TRUE(b.wait_joined(20s));
  ASSERT_EQ(next_event(a.events), "up beta 1");
  const auto t0 = clock::now();
  b.kill();
  EXPECT_EQ(next_event(a.events), "down beta 1");
  const auto took = clock::now() - t0;
  EXPECT_LT(took, 3s) << "TTL 2 s + 1 s";
  EXPECT_EQ(names(a.c->members()), std::set<std::string>{"alpha"});
}

TEST(ClusterMembership, EtcdRestartedWithinTheTtlChangesNothingButTheLog) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()}, 6s);
  member_node b("beta", {etcd.endpoint()}, 6s);
  ASSERT_EQ(next_event(a.events), "up beta 1");
  ASSERT_EQ(next_event(b.events), "up alpha 1");
  etcd.kill();
  etcd.start();
  // The members' watches ended with etcd; they watch again.
  ASSERT_TRUE(eventually([&] { return a.c->stats().watch_restarts >= 1 && b.c->stats().watch_restarts >= 1; }));
  // A member joining after the restart is seen: the new watch works.
  member_node c("gamma", {etcd.endpoint()}, 6s);
  EXPECT_EQ(next_event(a.events), "up gamma 1");
  EXPECT_EQ(next_event(b.events), "up gamma 1");
  // Nobody was down, nobody fenced, nobody joined again.
  ASSERT_TRUE(eventually([&] { return a.c->stats().renewals >= 1 && b.c->stats().renewals >= 1; }));
  for (auto* m : {&a, &b}) {
    EXPECT_EQ(m->c->stats().members_down, 0u);
    EXPECT_EQ(m->c->stats().fenced, 0u);
    EXPECT_EQ(m->c->epoch(), 1u);
    EXPECT_FALSE(m->c->fenced());
  }
}

TEST(ClusterMembership, EtcdDownLongerThanTheTtlFencesEveryMemberWhileTrafficGoesOn) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()}, 2s);
  member_node b("beta", {etcd.endpoint()}, 2s);
  ASSERT_EQ(next_event(a.events), "up beta 1");
  auto echo = b.sys.spawn<troupe_test::echo>();
  b.n.publish("echo", echo);
  ASSERT_TRUE(eventually([&] { return a.n.find_peer("beta").has_value(); }));
  auto remote = a.n.find_peer("beta")->lookup<troupe_test::echo>("echo", 5s);
  ASSERT_TRUE(remote.ok()) << remote.message();

  etcd.kill();
  ASSERT_TRUE(eventually([&] { return a.c->fenced() && b.c->fenced(); }, 5s));
  // Plain remote traffic between members goes on without etcd.
  troupe_test::Ping ping;
  ping.set_seq(41);
  auto r = remote->ask(ping, 5s).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->seq(), 41);

  etcd.start();
  // etcd keeps leases across its restart: both renew and host again.
  ASSERT_TRUE(eventually([&] { return !a.c->fenced() && !b.c->fenced(); }, 10s));
  EXPECT_GE(a.c->stats().fenced, 1u);
  EXPECT_GE(a.c->stats().renewal_failures, 1u);
}

TEST(ClusterMembership, AMemberWhoseLeaseIsRevokedFencesAndJoinsAgainUnderANewEpoch) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()}, 3s);
  member_node b("beta", {etcd.endpoint()}, 3s);
  ASSERT_EQ(next_event(a.events), "up beta 1");
  // Someone (an operator, or etcd deciding it expired) removes beta's lease.
  troupe::test::etcd_client_call(etcd.port(), "/v3/lease/revoke",
                                 R"({"ID":")" + troupe::test::lease_of(etcd.port(), "/troupe/test/members/beta") +
                                     R"("})");
  EXPECT_EQ(next_event(a.events), "down beta 1");
  EXPECT_EQ(next_event(a.events), "up beta 2");
  ASSERT_TRUE(eventually([&] { return b.c->epoch() == 2 && !b.c->fenced(); }));
  EXPECT_EQ(b.c->stats().joins, 2u);
  EXPECT_GE(b.c->stats().fenced, 1u);
}

TEST(ClusterMembership, AnEtcdEndpointThatIsDownIsSkipped) {
  troupe::test::etcd_server etcd;
  const std::string dead = "127.0.0.1:" + std::to_string(troupe::test::free_port());
  member_node a("alpha", {dead, etcd.endpoint()});
  EXPECT_TRUE(a.c->wait_joined(10s));
}

TEST(ClusterOptions, BadOptionsAreRefusedWhereTheyAreGiven) {
  troupe::actor_system sys;
  troupe::node n(sys, node_opts("alpha"));
  auto refused = [&](troupe::cluster_options o, const std::string& naming) {
    try {
      troupe::cluster c(sys, n, std::move(o));
      ADD_FAILURE() << "accepted; wanted a refusal naming " << naming;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(naming), std::string::npos) << e.what();
    }
  };
  auto ok = cluster_opts({"127.0.0.1:2379"});
  auto o = ok;
  o.etcd.clear();
  refused(o, "etcd");
  o = ok;
  o.etcd = {"127.0.0.1"};
  refused(o, "etcd");
  o.etcd = {"127.0.0.1:99999"};
  refused(o, "etcd");
  o = ok;
  o.name = "a/b";
  refused(o, "name");
  o = ok;
  o.ttl = 1500ms;
  refused(o, "ttl");
  o.ttl = 0s;
  refused(o, "ttl");
  o = ok;
  o.request_timeout = 1s;  // not under ttl/3
  refused(o, "request_timeout");
  o = ok;
  o.kinds = {""};
  refused(o, "kinds");

  troupe::node_options wild = node_opts("beta");
  wild.listen_host = "0.0.0.0";
  troupe::node w(sys, wild);
  try {
    troupe::cluster c(sys, w, ok);
    ADD_FAILURE() << "a wildcard listen address with no advertise_host was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("advertise_host"), std::string::npos) << e.what();
  }
  troupe::node_options quiet = node_opts("gamma");
  quiet.listen = false;
  troupe::node q(sys, quiet);
  EXPECT_THROW(troupe::cluster(sys, q, ok), std::invalid_argument);
}

} // namespace cluster_test
