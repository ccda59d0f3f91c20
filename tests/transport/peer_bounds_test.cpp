// Bounds on what an authenticated peer can make a node hold: each is a
// node_options field, and breaking one ends the session for good (a bad
// frame, not a fault to resume from).
#include <functional>

#include "protocol/control_codec.hpp"
#include "protocol/frame.hpp"
#include "raw_peers.hpp"
#include "transport_fixture.hpp"
#include "troupe/actors/detail/cell_extras.hpp"

namespace transport_test {
namespace {

using troupe::transport::append_message_frame;

/// A node "target" with its bounds as `bound` sets them, in a system of its own.
struct bounded {
  explicit bounded(const std::function<void(troupe::node_options&)>& bound)
      : n(sys, [&] {
          auto o = node_opts("target");
          bound(o);
          return o;
        }()) {}
  troupe::actor_system sys{two_threads()};
  troupe::node n;
};

TEST(peer_bounds, APeerDefiningMoreMessageTypeIdsThanAllowedIsCutOff) {
  // Before, a peer could define a million type ids (all naming one known
  // type), each an entry kept for the session's life: 105 MB.
  bounded t([](troupe::node_options& o) { o.max_peer_message_types = 16; });
  auto& n = t.n;
  auto e = t.sys.spawn<echo>();
  n.publish("echo", e);
  raw_client c(n.port());
  ASSERT_TRUE(c.handshake_with(test_cookie));
  std::string m;
  for (std::uint32_t id = 1; id <= 16; ++id) {
    append_message_frame(m, e.id(), 0, id, "troupe_test.Ping", 0, [](std::string&) {});
  }
  c.send(m);
  ASSERT_TRUE(troupe::test::wait_until([&] { return e.ask(troupe_test::Count{}, 10s).get().value().n() == 16; }, 10s))
      << "sixteen ids are within the bound";
  EXPECT_EQ(n.stats().bad_frames, 0u);
  m.clear();
  append_message_frame(m, e.id(), 0, 17, "troupe_test.Ping", 0, [](std::string&) {});
  c.send(m);
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(troupe::test::wait_until([&] { return n.stats().bad_frames == 1; }, 10s));
  EXPECT_EQ(n.stats().links_interrupted, 0u) << "a broken bound is not resumed";
}

/// Reports, on its own turn, how many monitors are set on it.
struct watched : troupe::actor<watched> {
  using remote_interface = troupe::accepts<troupe_test::Count>;
  troupe_test::Counted on(troupe_test::Count) {
    const auto* x = self().cell()->extras_if_any();
    troupe_test::Counted c;
    c.set_n(x == nullptr ? 0 : static_cast<std::int64_t>(x->watchers.size()));
    return c;
  }
};

/// MONITORs of `target` under refs [from, to), one frame each.
std::string monitors(std::uint64_t target, std::uint64_t from, std::uint64_t to, bool undo = false) {
  std::string m;
  for (std::uint64_t ref = from; ref < to; ++ref) {
    if (undo) {
      troupe::transport::control::append_demonitor(m, {target, ref});
    } else {
      troupe::transport::control::append_monitor(m, {target, ref});
    }
  }
  return m;
}

TEST(peer_bounds, APeerHoldingMoreMonitorsThanAllowedIsCutOffAndWhatItWatchedIsForgotten) {
  // Before, a million MONITOR frames grew the watched actor's list by 36 MB,
  // kept after the peer left; DEMONITORs of entries never made cost a scan each.
  bounded t([](troupe::node_options& o) { o.max_peer_monitors = 1000; });
  auto& n = t.n;
  auto e = t.sys.spawn<watched>();
  n.publish("watched", e);
  const auto watchers = [&] { return e.ask(troupe_test::Count{}, 10s).get().value().n(); };
  {
    raw_client c(n.port());
    ASSERT_TRUE(c.handshake_with(test_cookie));
    c.send(monitors(e.id(), 1, 1001));
    ASSERT_TRUE(troupe::test::wait_until([&] { return watchers() == 1000; }, 10s));
    c.send(monitors(e.id(), 1, 1001));  // the same again: nothing new
    c.send(monitors(e.id(), 5001, 6001, /*undo=*/true));  // never made: never reach the actor
    c.send(monitors(e.id(), 1, 501, /*undo=*/true));
    ASSERT_TRUE(troupe::test::wait_until([&] { return watchers() == 500; }, 10s));
    EXPECT_EQ(n.stats().bad_frames, 0u);
    c.send(monitors(e.id(), 2001, 2502));  // 500 fit again; the 501st does not
    EXPECT_TRUE(c.closed_by_peer(10s));
  }
  EXPECT_TRUE(troupe::test::wait_until([&] { return n.stats().bad_frames == 1; }, 10s));
  EXPECT_EQ(n.stats().links_interrupted, 0u) << "a broken bound is not resumed";
  // The session is over: the actor no longer lists the peer's monitors.
  EXPECT_TRUE(troupe::test::wait_until([&] { return watchers() == 0; }, 10s)) << watchers();
}

TEST(peer_bounds, APeerLinkingFromMoreRemoteActorsThanAllowedIsCutOff) {
  // Each remote actor a peer links from costs a proxy here.
  bounded t([](troupe::node_options& o) { o.max_peer_links = 4; });
  auto& n = t.n;
  auto e = t.sys.spawn<watched>();
  n.publish("watched", e, troupe::remote_control::link);
  raw_client c(n.port());
  ASSERT_TRUE(c.handshake_with(test_cookie));
  std::string links;
  for (std::uint64_t from = 1; from <= 4; ++from) troupe::transport::control::append_link(links, {e.id(), from});
  c.send(links);
  ASSERT_TRUE(e.ask(troupe_test::Count{}, 10s).get().ok()) << "four links are within the bound";
  EXPECT_EQ(n.stats().bad_frames, 0u);
  links.clear();
  troupe::transport::control::append_link(links, {e.id(), 5});
  c.send(links);
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(troupe::test::wait_until([&] { return n.stats().bad_frames == 1; }, 10s));
}

TEST(peer_bounds, SharedMemoryRingsLargerThanTheAcceptorAllowsAreRefused) {
  // Before, the connector chose the ring size alone: 1 GiB rings cost the
  // accepting node 491 MB of RSS.
  const std::string path = ::testing::TempDir() + "troupe-bounds-" + std::to_string(::getpid()) + ".sock";
  troupe::actor_system sys_b{two_threads()};
  auto ob = node_opts("target");
  ob.listen_shm = path;
  ob.max_shm_ring_bytes = 1u << 20;
  troupe::node b(sys_b, ob);
  b.publish("echo", sys_b.spawn<echo>());
  troupe::actor_system sys_a{two_threads()};
  auto oa = node_opts("greedy");
  oa.listen = false;
  oa.shm_ring_bytes = 4u << 20;
  {
    troupe::node a(sys_a, oa);
    auto p = a.connect_shm(path, 10s);
    EXPECT_FALSE(p.ok()) << "4 MiB rings were mapped by a node that allows 1 MiB";
    EXPECT_TRUE(troupe::test::wait_until([&] { return b.stats().handshake_failures == 1; }, 10s));
  }
  oa.name = "modest";
  oa.shm_ring_bytes = 1u << 20;
  troupe::node a(sys_a, oa);
  auto p = a.connect_shm(path, 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  expect_echo_adds(p.value());
}

} // namespace
} // namespace transport_test
