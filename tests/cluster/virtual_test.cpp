// Virtual actors and singletons on a real etcd: activation on the owner,
// messages held in order until then, the identity back elsewhere after its
// owner was killed or left, passivation, a kind nobody hosts, fencing.
// Activations record themselves (activation_log): none is ever active on
// two members at once.
#include <gtest/gtest.h>

#include <thread>

#include "cluster_fixture.hpp"
#include "placement.hpp"

namespace cluster_test {

namespace {

using clock = std::chrono::steady_clock;


/// An identity that rendezvous hashing places on `owner` among `hosts`.
std::string owned_by(const std::string& owner, const std::vector<std::string>& hosts) {
  std::vector<troupe::member> ms;
  for (const auto& h : hosts) {
    troupe::member m;
    m.name = h;
    ms.push_back(m);
  }
  std::vector<const troupe::member*> ptrs;
  for (const auto& m : ms) ptrs.push_back(&m);
  for (int i = 0;; ++i) {
    std::string id = "user-" + std::to_string(i);
    if (troupe::cluster_detail::owner_of("session", id, ptrs) == owner) return id;
  }
}

troupe_test::Ping ping(std::int64_t seq) {
  troupe_test::Ping p;
  p.set_seq(seq);
  return p;
}

/// The identity's count, asked through the handle.
troupe::result<troupe_test::Counted> counted(const troupe::virtual_ref<session>& v) {
  return v.ask(troupe_test::Count{}, 10s).get();
}

/// Every member lists `n` members hosting "session".
bool hosting_everywhere(std::initializer_list<member_node*> ms, std::size_t n) {
  for (auto* m : ms) {
    std::size_t hosting = 0;
    for (const auto& x : m->c->members()) {
      if (std::find(x.kinds.begin(), x.kinds.end(), "session") != x.kinds.end()) ++hosting;
    }
    if (hosting != n) return false;
  }
  return true;
}

} // namespace

TEST(ClusterVirtual, TheFirstMessageActivatesTheIdentityOnItsOwnerAndLaterOnesReachTheSameActivation) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()});
  member_node b("beta", {etcd.endpoint()});
  member_node c("gamma", {etcd.endpoint()});
  for (auto* m : {&a, &b, &c}) m->c->kind<session>("session");
  ASSERT_TRUE(eventually([&] { return hosting_everywhere({&a, &b, &c}, 3); }));

  const std::string id = owned_by("beta", {"alpha", "beta", "gamma"});
  auto from_a = a.c->get<session>("session", id);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(from_a.tell(ping(i)), troupe::send_result::ok);
  auto r = counted(from_a);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->n(), 3);
  EXPECT_EQ(b.c->active(), 1u) << "activated on its owner";
  EXPECT_EQ(a.c->active() + c.c->active(), 0u);

  // Another member's handle reaches the same activation.
  auto from_c = c.c->get<session>("session", id);
  EXPECT_EQ(from_c.tell(ping(4)), troupe::send_result::ok);
  r = counted(from_c);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->n(), 4);
  EXPECT_TRUE(r->in_order());
  EXPECT_FALSE(activation_log::get().twice);
}

TEST(ClusterVirtual, MessagesSentBeforeTheActivationExistsAreHeldAndArriveInOrder) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()});
  member_node b("beta", {etcd.endpoint()});
  for (auto* m : {&a, &b}) m->c->kind<session>("session");
  ASSERT_TRUE(eventually([&] { return hosting_everywhere({&a, &b}, 2); }));
  auto v = a.c->get<session>("session", owned_by("beta", {"alpha", "beta"}));
  for (int i = 1; i <= 500; ++i) ASSERT_EQ(v.tell(ping(i)), troupe::send_result::ok);
  auto r = counted(v);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->n(), 500);
  EXPECT_EQ(r->last_seq(), 500);
  EXPECT_TRUE(r->in_order());
}

TEST(ClusterVirtual, WhenItsOwnerIsKilledTheIdentityComesBackElsewhereOnTheNextMessage) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()}, 2s);
  a.c->kind<session>("session");
  member_process b("beta", etcd.endpoint(), 2s);  // hosts "session" too
  ASSERT_TRUE(b.wait_joined(20s));
  ASSERT_EQ(next_event(a.events), "up beta 1");
  ASSERT_TRUE(eventually([&] { return hosting_everywhere({&a}, 2); }));

  auto v = a.c->get<session>("session", owned_by("beta", {"alpha", "beta"}));
  ASSERT_EQ(v.tell(ping(1)), troupe::send_result::ok);
  auto r = counted(v);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->n(), 1);
  EXPECT_EQ(a.c->active(), 0u) << "active on beta";

  const auto t0 = clock::now();
  b.kill();
  ASSERT_EQ(next_event(a.events), "down beta 1");
  EXPECT_LT(clock::now() - t0, 3s);
  // The next message activates it here, the only member left (its state
  // starts again: a virtual actor keeps nothing it did not store).
  EXPECT_EQ(v.tell(ping(1)), troupe::send_result::ok);
  r = counted(v);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->n(), 1);
  EXPECT_EQ(a.c->active(), 1u);
}

TEST(ClusterVirtual, WhenItsOwnerLeavesTheIdentityMovesAndAsksDoNotFail) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()});
  auto b = std::make_unique<member_node>("beta", std::vector<std::string>{etcd.endpoint()});
  a.c->kind<session>("session");
  b->c->kind<session>("session");
  ASSERT_EQ(next_event(a.events), "up beta 1");
  ASSERT_TRUE(eventually([&] { return hosting_everywhere({&a, b.get()}, 2); }));
  auto v = a.c->get<session>("session", owned_by("beta", {"alpha", "beta"}));
  auto first = counted(v);
  ASSERT_TRUE(first.ok()) << first.message();
  ASSERT_EQ(b->c->active(), 1u);
  b->c->leave();
  ASSERT_EQ(next_event(a.events), "left beta 1");
  // The cached handle points at a stopped actor: the ask is refused unsent
  // and goes to the identity's new home instead of failing.
  auto r = counted(v);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->n(), 0);
  EXPECT_EQ(a.c->active(), 1u);
  EXPECT_FALSE(activation_log::get().twice);
}

TEST(ClusterVirtual, AnIdleActivationIsPassivatedAndTheNextMessageActivatesItAgain) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()});
  a.c->kind<session>("session", troupe::kind_options{.idle_after = 300ms});
  ASSERT_TRUE(eventually([&] { return hosting_everywhere({&a}, 1); }));
  auto v = a.c->get<session>("session", "idle-1");
  ASSERT_EQ(v.tell(ping(1)), troupe::send_result::ok);
  ASSERT_EQ(counted(v)->n(), 1);
  ASSERT_EQ(a.c->active(), 1u);
  ASSERT_TRUE(eventually([&] { return a.c->active() == 0; }, 5s)) << "not passivated";
  // Its key went with it: the identity activates again, anew.
  ASSERT_EQ(v.tell(ping(1)), troupe::send_result::ok);
  auto r = counted(v);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->n(), 1);
  EXPECT_EQ(a.c->active(), 1u);
}

TEST(ClusterVirtual, AKindNoMemberHostsFailsAsksAndCountsItsMessagesAsDeadLetters) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()});
  ASSERT_TRUE(a.c->wait_joined(10s));
  auto v = a.c->get<session>("session", "nobody");
  const auto before = a.sys.stats().dead(troupe::drop_reason::not_activated);
  EXPECT_EQ(v.tell(ping(1)), troupe::send_result::ok);  // held, then given up
  auto r = counted(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.message()).find("no member hosts kind session"), std::string::npos) << r.message();
  // Both messages, the told one and the asked one, are counted.
  EXPECT_TRUE(eventually([&] { return a.sys.stats().dead(troupe::drop_reason::not_activated) == before + 2; }));
}

TEST(ClusterVirtual, AFencedMemberStopsWhatItHostsBeforeItsLeaseCanExpire) {
  troupe::test::etcd_server etcd;
  member_node a("alpha", {etcd.endpoint()}, 2s);
  a.c->kind<session>("session");
  ASSERT_TRUE(eventually([&] { return hosting_everywhere({&a}, 1); }));
  auto v = a.c->get<session>("session", "fenced-1");
  ASSERT_TRUE(counted(v).ok());
  ASSERT_EQ(a.c->active(), 1u);
  etcd.kill();
  ASSERT_TRUE(eventually([&] { return a.c->fenced(); }, 5s));
  EXPECT_EQ(a.c->active(), 0u);
  // Fenced, it activates nothing: the ask fails with the reason.
  auto r = counted(v);
  EXPECT_FALSE(r.ok());
  etcd.start();
  ASSERT_TRUE(eventually([&] { return !a.c->fenced(); }, 10s));
  r = counted(v);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(a.c->active(), 1u);
}

TEST(ClusterSingleton, RunsOnTheOldestMemberAndMovesToTheNextWhenItLeaves) {
  troupe::test::etcd_server etcd;
  auto a = std::make_unique<member_node>("alpha", std::vector<std::string>{etcd.endpoint()});
  ASSERT_TRUE(a->c->wait_joined(10s));
  member_node b("beta", {etcd.endpoint()});
  ASSERT_TRUE(b.c->wait_joined(10s));
  ASSERT_EQ(next_event(b.events), "up alpha 1");
  auto from_a = a->c->singleton<session>("counter");
  auto from_b = b.c->singleton<session>("counter");
  ASSERT_TRUE(eventually([&] {
    std::size_t n = 0;
    for (const auto& m : b.c->members()) n += std::count(m.kinds.begin(), m.kinds.end(), "singleton.counter");
    return n == 2;
  }));
  ASSERT_EQ(from_b.tell(ping(1)), troupe::send_result::ok);
  ASSERT_EQ(from_a.tell(ping(2)), troupe::send_result::ok);
  auto r = counted(from_b);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->n(), 2) << "one instance for both";
  EXPECT_EQ(a->c->active(), 1u) << "on the oldest member";
  EXPECT_EQ(b.c->active(), 0u);

  a->c->leave();
  ASSERT_EQ(next_event(b.events), "left alpha 1");
  r = counted(from_b);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(b.c->active(), 1u) << "moved to the next oldest";
  EXPECT_FALSE(activation_log::get().twice);
}

} // namespace cluster_test
