// Peers on Unix sockets and shared memory are checked for their user id
// (SO_PEERCRED) before the cookie: node_options::local_peer_uids.
#include <gtest/gtest.h>

#include <unistd.h>

#include <string>

#include "transport_fixture.hpp"

namespace transport_test {
namespace {

class local_peers : public ::testing::Test {
 protected:
  std::string path(const char* what) const {
    return "/tmp/troupe-local-peer-" + std::to_string(::getpid()) + "-" + what + ".sock";
  }
  troupe::actor_system sys_a_{two_threads()};
  troupe::actor_system sys_b_{two_threads()};
};

TEST_F(local_peers, APeerOfTheSameUserIsServedByDefault) {
  auto ob = node_opts("beta");
  ob.listen_unix = path("same");
  troupe::node b(sys_b_, ob);
  troupe::node a(sys_a_, node_opts("alpha"));
  auto p = a.connect_unix(ob.listen_unix, 5s);
  EXPECT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(a.stats().local_peers_refused + b.stats().local_peers_refused, 0u);
}

TEST_F(local_peers, APeerOfAUserNotAllowedIsRefusedOnBothSides) {
  const std::uint32_t someone_else = ::geteuid() + 1;
  // beta accepts only someone else: alpha (this user) is refused before its cookie is read.
  auto ob = node_opts("beta");
  ob.listen_unix = path("other");
  ob.listen_shm = path("other-shm");
  ob.local_peer_uids = {someone_else};
  troupe::node b(sys_b_, ob);
  troupe::node a(sys_a_, node_opts("alpha"));
  EXPECT_FALSE(a.connect_unix(ob.listen_unix, 5s).ok());
  EXPECT_FALSE(a.connect_shm(ob.listen_shm, 5s).ok());
  EXPECT_TRUE(troupe::test::wait_until([&] { return b.stats().local_peers_refused >= 2; }, 10s));
  EXPECT_EQ(b.stats().sessions_up, 0u);
  // And a dialler that allows only someone else will not talk to beta's user.
  auto oa = node_opts("gamma");
  oa.local_peer_uids = {someone_else};
  troupe::node g(sys_a_, oa);
  auto ob2 = node_opts("delta");
  ob2.listen_unix = path("delta");
  troupe::node d(sys_b_, ob2);
  auto r = g.connect_unix(ob2.listen_unix, 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::errc::refused) << r.message();
  EXPECT_GE(g.stats().local_peers_refused, 1u);
}

} // namespace
} // namespace transport_test
