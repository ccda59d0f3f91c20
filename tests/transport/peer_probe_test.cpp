// Where the side that was dialled may probe its peer's listen address (from
// the peer's HELLO) while their session waits to resume: only where it can
// reach it, so that a refusal is evidence and never a misunderstanding.
#include <gtest/gtest.h>

#include "link/connection.hpp"

namespace {
using troupe::transport::reachable_listener;

TEST(PeerProbe, AnAddressThePeerListensOnIsProbedThere) {
  const auto ep = reachable_listener("10.1.2.3", 4242, "10.9.9.9");
  ASSERT_TRUE(ep.has_value());
  EXPECT_EQ(ep->address().to_string(), "10.1.2.3");
  EXPECT_EQ(ep->port(), 4242);
}

TEST(PeerProbe, AWildcardListenerIsProbedWhereThePeerConnectsFrom) {
  auto ep = reachable_listener("0.0.0.0", 7000, "192.168.1.20");
  ASSERT_TRUE(ep.has_value());
  EXPECT_EQ(ep->address().to_string(), "192.168.1.20");
  ep = reachable_listener("::", 7000, "fd00::7");
  ASSERT_TRUE(ep.has_value());
  EXPECT_EQ(ep->address().to_string(), "fd00::7");
}

TEST(PeerProbe, APeerLoopbackIsProbedOnlyFromItsOwnHost) {
  EXPECT_TRUE(reachable_listener("127.0.0.1", 7000, "127.0.0.1").has_value());
  // From another host its 127.0.0.1 is ours: a refusal there says nothing.
  EXPECT_FALSE(reachable_listener("127.0.0.1", 7000, "10.0.0.2").has_value());
  EXPECT_FALSE(reachable_listener("::1", 7000, "10.0.0.2").has_value());
}

TEST(PeerProbe, NothingIsProbedWithoutAPortANumericHostOrATcpLink) {
  EXPECT_FALSE(reachable_listener("127.0.0.1", 0, "127.0.0.1").has_value()) << "it does not listen";
  EXPECT_FALSE(reachable_listener("node-7.example", 7000, "10.0.0.2").has_value()) << "a name is not resolved";
  EXPECT_FALSE(reachable_listener("127.0.0.1", 7000, "").has_value()) << "a Unix socket or a pipe";
  EXPECT_FALSE(reachable_listener("", 7000, "10.0.0.2").has_value());
}

} // namespace
