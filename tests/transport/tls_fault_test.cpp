// TLS links under faults, through the fault proxy: a record with a byte
// flipped on the wire, and certificates rotated (and the old ones revoked)
// during a flood. The reliable link resumes over a new TLS session and
// nothing told ok is lost. Label `fault`.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fault_pair.hpp"
#include "support/test_certs.hpp"

namespace transport_test {
namespace {

using troupe::test::temp_dir;
using troupe::test::test_ca;

/// A TLS node `name` with a certificate from `ca` (files `name`.pem/.key,
/// replaced in place by a rotation) and the CA's revocation list `crl`.
troupe::node_options tls_node(const std::string& name, test_ca& ca, const std::string& crl) {
  auto o = node_opts(name);
  const auto f = ca.node(name);
  troupe::tls_options t;
  t.certificate_file = f.cert;
  t.private_key_file = f.key;
  t.ca_file = ca.ca_file();
  t.crl_file = crl;
  t.reload_check = std::chrono::milliseconds(0);  // the test reloads when it chooses
  o.tls = t;
  return o;
}

class TlsFaults : public ::testing::Test {
 protected:
  temp_dir dir_;
  test_ca ca_{dir_.file(""), "ca"};
  std::string crl_ = ca_.crl({});
  troupe::actor_system sys_a_{two_threads()};
  troupe::actor_system sys_b_{two_threads()};
};

TEST_F(TlsFaults, AFlippedByteInARecordEndsTheConnectionAndTheFlowResumesWithNothingLost) {
  const auto count = static_cast<std::int64_t>(troupe::test::scaled(400'000, 40'000));
  proxied_pair n(sys_a_, sys_b_, false, tls_node("alpha", ca_, crl_), tls_node("beta", ca_, crl_));
  std::atomic<std::int64_t> sent{0};
  std::int64_t refused = -1;
  std::thread sender([&] { refused = flood(n.echo, count, sent); });
  troupe::test::wait_until([&] { return sent.load() >= count / 4; }, 60s);
  n.proxy->flip_next(troupe::test::toward::listener);
  const bool resumed = troupe::test::wait_until([&] { return n.a.stats().links_resumed >= 1; }, 30s);
  sender.join();
  EXPECT_TRUE(resumed);
  EXPECT_EQ(n.proxy->flipped(), 1u);
  EXPECT_EQ(refused, 0);
  const auto c = counted_by(n.echo, count, 120s);
  EXPECT_EQ(c.n(), count);
  EXPECT_EQ(c.last_seq(), count - 1);
  EXPECT_TRUE(c.in_order());
  EXPECT_GE(n.b->stats().tls_failures, 1u) << "the record that did not authenticate";
  EXPECT_EQ(n.a.stats().sessions_down + n.b->stats().sessions_down, 0u);
  EXPECT_EQ(n.a.stats().unacknowledged_lost, 0u);
}

TEST_F(TlsFaults, CertificatesRotatedAndTheOldOnesRevokedDuringAFloodLoseNoMessage) {
  const auto count = static_cast<std::int64_t>(troupe::test::scaled(400'000, 40'000));
  proxied_pair n(sys_a_, sys_b_, false, tls_node("alpha", ca_, crl_), tls_node("beta", ca_, crl_));
  const auto full_before = n.a.stats().tls_handshakes;
  std::atomic<std::int64_t> sent{0};
  std::int64_t refused = -1;
  std::thread sender([&] { refused = flood(n.echo, count, sent); });
  troupe::test::wait_until([&] { return sent.load() >= count / 3; }, 60s);
  // New certificates in the same files; the old ones (serials 100, 101) revoked.
  ca_.node("alpha");
  ca_.node("beta");
  ca_.crl({100, 101});
  const auto ra = n.a.reload_tls();
  const auto rb = n.b->reload_tls();
  EXPECT_TRUE(ra.ok() && ra.value()) << ra.message();
  EXPECT_TRUE(rb.ok() && rb.value()) << rb.message();
  // The connection up keeps its session; a new one must use the new
  // certificates (the old are revoked now, and the old tickets are void).
  n.proxy->cut();
  const bool resumed = troupe::test::wait_until([&] { return n.a.stats().links_resumed >= 1; }, 30s);
  sender.join();
  EXPECT_TRUE(resumed);
  EXPECT_EQ(refused, 0);
  const auto c = counted_by(n.echo, count, 120s);
  EXPECT_EQ(c.n(), count);
  EXPECT_EQ(c.last_seq(), count - 1);
  EXPECT_TRUE(c.in_order());
  EXPECT_GT(n.a.stats().tls_handshakes, full_before) << "a full handshake with the new certificates";
  EXPECT_EQ(n.a.stats().tls_resumed, 0u) << "no ticket from before the reload";
  EXPECT_EQ(n.a.stats().tls_failures + n.b->stats().tls_failures, 0u);
  EXPECT_EQ(n.a.stats().sessions_down + n.b->stats().sessions_down, 0u);
}

} // namespace
} // namespace transport_test
