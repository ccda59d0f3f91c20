// TLS 1.3 between real nodes over loopback, with a CA and certificates made
// by the test (tests/support/test_certs.hpp): what is on the wire, who is
// refused and why, resumption, reload, and bad options.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "support/fault_proxy.hpp"
#include "support/test_certs.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

using troupe::test::temp_dir;
using troupe::test::test_ca;

troupe::tls_options tls_files(const test_ca::issued& f, const test_ca& ca, std::string crl = {}) {
  troupe::tls_options t;
  t.certificate_file = f.cert;
  t.private_key_file = f.key;
  t.ca_file = ca.ca_file();
  t.crl_file = std::move(crl);
  return t;
}

/// Options for a TLS node `name` with a certificate from `ca`.
troupe::node_options tls_node(const std::string& name, test_ca& ca) {
  auto o = node_opts(name);
  o.tls = tls_files(ca.node(name), ca);
  return o;
}

/// A raw TLS client (OpenSSL, blocking) with the certificate `f`, offering
/// TLS up to `max_version`, dialling 127.0.0.1:`port`: whether its
/// handshake and a first read went through, and OpenSSL's reason if not.
std::pair<bool, std::string> raw_tls_client(std::uint16_t port, const test_ca::issued& f, const test_ca& ca,
                                            int max_version = TLS1_3_VERSION) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_use_certificate_file(ctx, f.cert.c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_use_PrivateKey_file(ctx, f.key.c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_load_verify_locations(ctx, ca.ca_file().c_str(), nullptr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  // TLS 1.3: the client finishes first; a refusal of its certificate comes
  // as an alert on the first read (the node's HELLO otherwise).
  char byte = 0;
  ok = ok && SSL_connect(ssl) == 1 && SSL_read(ssl, &byte, 1) == 1;
  const char* why = ERR_reason_error_string(ERR_peek_last_error());
  const std::string reason = why != nullptr ? why : "";
  ERR_clear_error();
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  return {ok, reason};
}

class Tls : public ::testing::Test {
 protected:
  /// alpha's connect to beta: its outcome (beta listens, alpha dials).
  troupe::result<troupe::peer> connect(troupe::node_options alpha, troupe::node_options beta) {
    b_.emplace(sys_b_, std::move(beta));
    a_.emplace(sys_a_, std::move(alpha));
    return a_->connect("127.0.0.1", b_->port(), 5s);
  }
  /// Waits until beta has counted a TLS failure; true when it did.
  bool beta_counts_a_failure() {
    return troupe::test::wait_until([&] { return b_->stats().tls_failures >= 1; }, 10s);
  }

  temp_dir dir_;
  test_ca ca_{dir_.file(""), "ca"};
  troupe::actor_system sys_a_{two_threads()};
  troupe::actor_system sys_b_{two_threads()};
  std::optional<troupe::node> b_;
  std::optional<troupe::node> a_;
};

/// Sends a ping with `note` each way between alpha (through `via`, a
/// recording proxy in front of beta) and beta; what the proxy saw each way.
std::array<std::string, 2> exchange_notes(troupe::actor_system& sys_a, troupe::actor_system& sys_b,
                                          troupe::node_options alpha, troupe::node_options beta,
                                          const std::string& to_beta, const std::string& to_alpha) {
  troupe::node b(sys_b, std::move(beta));
  troupe::node a(sys_a, std::move(alpha));
  auto echo_b = sys_b.spawn<echo>();
  auto echo_a = sys_a.spawn<echo>();
  b.publish("echo", echo_b);
  a.publish("echo", echo_a);
  troupe::test::fault_proxy proxy(b.port());
  proxy.record();
  auto p = a.connect("127.0.0.1", proxy.port(), 5s);
  if (!p.ok()) {
    ADD_FAILURE() << p.message();
    return {};
  }
  auto there = p.value().lookup<echo>("echo", 5s);
  EXPECT_TRUE(there.ok()) << there.message();
  troupe_test::Ping ping;
  ping.set_seq(1);
  ping.set_note(to_beta);
  EXPECT_TRUE(there.value().ask(ping, 5s).get().ok());
  auto back = b.find_peer("alpha");
  EXPECT_TRUE(back.has_value());
  auto here = back->lookup<echo>("echo", 5s);
  EXPECT_TRUE(here.ok()) << here.message();
  ping.set_note(to_alpha);
  EXPECT_TRUE(here.value().ask(ping, 5s).get().ok());
  return proxy.captured();
}

TEST_F(Tls, TrafficFlowsAndNoPlaintextOfAKnownPayloadIsOnTheWire) {
  const std::string to_beta = "wire the money to account 4242 at dawn";
  const std::string to_alpha = "the account is 4242, the hour is dawn";
  // The proxy sees the notes when the link is plaintext (so the capture is
  // real), and neither them nor the node names with TLS (TLS 1.3 encrypts
  // the certificates too).
  {
    const auto plain = exchange_notes(sys_a_, sys_b_, node_opts("alpha"), node_opts("beta"), to_beta, to_alpha);
    EXPECT_NE(plain[0].find(to_beta), std::string::npos);
    EXPECT_NE(plain[1].find(to_alpha), std::string::npos);
  }
  const auto secret = exchange_notes(sys_a_, sys_b_, tls_node("alpha", ca_), tls_node("beta", ca_), to_beta, to_alpha);
  ASSERT_GT(secret[0].size(), 1000u);
  ASSERT_GT(secret[1].size(), 1000u);
  for (const auto& way : secret) {
    EXPECT_EQ(way.find(to_beta), std::string::npos);
    EXPECT_EQ(way.find(to_alpha), std::string::npos);
    EXPECT_EQ(way.find("4242"), std::string::npos);
    EXPECT_EQ(way.find("troupe://"), std::string::npos);
  }
}

TEST_F(Tls, APeerWithACertificateFromAnotherCaIsRefused) {
  test_ca other(dir_.file(""), "other-ca");
  auto beta = node_opts("beta");
  beta.tls = tls_files(other.node("beta", -3600, 24 * 3600, {}, "beta-other"), other);  // beta trusts its own CA only
  auto r = connect(tls_node("alpha", ca_), std::move(beta));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::errc::auth_failed) << r.message();
  EXPECT_NE(std::string(r.message()).find("certificate"), std::string::npos) << r.message();
  EXPECT_GE(a_->stats().tls_failures, 1u);
  EXPECT_TRUE(beta_counts_a_failure());
  EXPECT_EQ(a_->stats().sessions_up + b_->stats().sessions_up, 0u);
}

TEST_F(Tls, AnExpiredCertificateOfItsOwnIsRefusedAtStartAndAtReload) {
  auto beta = node_opts("beta");
  beta.tls = tls_files(ca_.node("beta", -7200, -3600), ca_);  // expired an hour ago
  try {
    troupe::node n(sys_b_, beta);
    ADD_FAILURE() << "a node started with an expired certificate";
  } catch (const std::invalid_argument& ex) {
    EXPECT_NE(std::string(ex.what()).find("expired"), std::string::npos) << ex.what();
  }
  // A running node whose files are replaced by an expired certificate:
  // the reload refuses it, and the valid one stays in use.
  b_.emplace(sys_b_, tls_node("beta", ca_));
  a_.emplace(sys_a_, tls_node("alpha", ca_));
  ca_.node("alpha", -7200, -3600);  // the same files, now expired
  auto reloaded = a_->reload_tls();
  EXPECT_FALSE(reloaded.ok());
  EXPECT_NE(std::string(reloaded.message()).find("expired"), std::string::npos) << reloaded.message();
  auto r = a_->connect("127.0.0.1", b_->port(), 5s);
  EXPECT_TRUE(r.ok()) << r.message();
}

TEST_F(Tls, APeerPresentingAnExpiredCertificateIsRefused) {
  // A raw TLS client with an expired certificate (a node would not start
  // with one): beta refuses it in the handshake and counts it.
  auto beta = tls_node("beta", ca_);
  b_.emplace(sys_b_, std::move(beta));
  const auto [ok, why] = raw_tls_client(b_->port(), ca_.node("alpha", -7200, -3600), ca_);
  EXPECT_FALSE(ok);
  EXPECT_NE(why.find("certificate expired"), std::string::npos) << why;
  EXPECT_TRUE(beta_counts_a_failure());
  EXPECT_EQ(b_->stats().sessions_up, 0u);
}

TEST_F(Tls, ACertificateNamingAnotherNodeIsRefused) {
  // beta's certificate, from the right CA, names troupe://other/beta: a
  // node of another cluster. alpha (cluster "troupe") refuses it.
  auto beta = node_opts("beta");
  beta.tls = tls_files(ca_.node("beta", -3600, 24 * 3600, "troupe://other/beta", "beta-other"), ca_);
  beta.tls->cluster = "other";
  // beta (cluster "other") expects troupe://other/alpha and finds
  // troupe://troupe/alpha: it refuses, and says why inside TLS.
  auto r = connect(tls_node("alpha", ca_), std::move(beta));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.message()).find("certificate names troupe://troupe/alpha"), std::string::npos)
      << r.message();
  EXPECT_TRUE(beta_counts_a_failure());
  EXPECT_EQ(a_->stats().sessions_up + b_->stats().sessions_up, 0u);
}

TEST_F(Tls, APlaintextPeerIsRefused) {
  auto r = connect(node_opts("alpha"), tls_node("beta", ca_));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(beta_counts_a_failure());
  EXPECT_EQ(b_->stats().sessions_up, 0u);
  // And the other way: a TLS node dialling a plaintext one gets no session.
  troupe::node gamma(sys_b_, node_opts("gamma"));
  troupe::node delta(sys_a_, tls_node("delta", ca_));
  auto back = delta.connect("127.0.0.1", gamma.port(), 5s);
  EXPECT_FALSE(back.ok());
  EXPECT_GE(delta.stats().tls_failures, 1u);
  EXPECT_EQ(gamma.stats().sessions_up, 0u);
}

TEST_F(Tls, ATls12OnlyPeerIsRefused) {
  b_.emplace(sys_b_, tls_node("beta", ca_));
  const auto [ok, why] = raw_tls_client(b_->port(), ca_.node("alpha"), ca_, TLS1_2_VERSION);
  EXPECT_FALSE(ok);
  EXPECT_NE(why.find("protocol version"), std::string::npos) << why;
  EXPECT_TRUE(beta_counts_a_failure());
}

TEST_F(Tls, ARevokedCertificateIsRefused) {
  const auto alpha_files = ca_.node("alpha");
  const std::string crl = ca_.crl({alpha_files.serial});
  auto beta = node_opts("beta");
  beta.tls = tls_files(ca_.node("beta"), ca_, crl);
  auto alpha = node_opts("alpha");
  alpha.tls = tls_files(alpha_files, ca_);
  auto r = connect(std::move(alpha), std::move(beta));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(beta_counts_a_failure());
  EXPECT_EQ(b_->stats().sessions_up, 0u);
}

TEST_F(Tls, AReconnectResumesTheTlsSession) {
  auto r = connect(tls_node("alpha", ca_), tls_node("beta", ca_));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(a_->stats().tls_handshakes, 1u);
  // The ticket comes after the handshake: wait until a round trip has passed.
  auto echo_b = sys_b_.spawn<echo>();
  b_->publish("echo", echo_b);
  ASSERT_TRUE(r.value().lookup<echo>("echo", 5s).ok());
  r.value().close();
  ASSERT_TRUE(troupe::test::wait_until([&] { return !a_->find_peer("beta") && !b_->find_peer("alpha"); }, 10s));
  auto again = a_->connect("127.0.0.1", b_->port(), 5s);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(a_->stats().tls_resumed, 1u);
  EXPECT_EQ(b_->stats().tls_resumed, 1u);
  EXPECT_EQ(a_->stats().tls_handshakes, 1u);
  // The resumed session still names its peer: traffic flows.
  EXPECT_TRUE(again.value().lookup<echo>("echo", 5s).ok());
}

TEST_F(Tls, BadFilesAreRefusedWhereTheyAreGiven) {
  auto with = [&](auto change) {
    auto o = tls_node("alpha", ca_);
    change(*o.tls);
    return o;
  };
  auto refused = [&](const troupe::node_options& o, const std::string& says) {
    try {
      troupe::node n(sys_a_, o);
      ADD_FAILURE() << "started; expected a refusal saying " << says;
    } catch (const std::invalid_argument& ex) {
      EXPECT_NE(std::string(ex.what()).find(says), std::string::npos) << ex.what();
    }
  };
  refused(with([](troupe::tls_options& t) { t.ca_file.clear(); }), "tls.ca_file is empty");
  refused(with([](troupe::tls_options& t) { t.cluster = "a/b"; }), "tls.cluster");
  refused(with([&](troupe::tls_options& t) { t.certificate_file = dir_.file("missing.pem"); }), "certificate_file");
  refused(with([&](troupe::tls_options& t) { t.private_key_file = ca_.node("gamma").key; }), "is not the key");
  refused(with([&](troupe::tls_options& t) {
            const auto g = ca_.node("gamma");
            t.certificate_file = g.cert;
            t.private_key_file = g.key;
          }),
          "does not name this node troupe://troupe/alpha");
  refused(with([&](troupe::tls_options& t) { t.crl_file = ca_.ca_file(); }), "no PEM revocation list");
  test_ca other(dir_.file(""), "other-ca");
  refused(with([&](troupe::tls_options& t) { t.ca_file = other.ca_file(); }), "does not verify against ca_file");
}

TEST_F(Tls, CertificatesFromTheTroupeCertsScriptWork) {
  // The helper users run (scripts/troupe-certs, the openssl command line).
  const std::string script = std::string(TROUPE_SOURCE_DIR) + "/scripts/troupe-certs";
  const std::string d = dir_.file("script");
  const std::string cmd = script + " ca " + d + " prod >/dev/null && " + script + " node " + d + " alpha >/dev/null && " +
                          script + " node " + d + " beta >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto opts = [&](const std::string& name) {
    auto o = node_opts(name);
    troupe::tls_options t;
    t.certificate_file = d + "/" + name + ".pem";
    t.private_key_file = d + "/" + name + ".key";
    t.ca_file = d + "/ca.pem";
    t.cluster = "prod";
    o.tls = t;
    return o;
  };
  auto r = connect(opts("alpha"), opts("beta"));
  EXPECT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(b_->stats().tls_handshakes, 1u);
}

} // namespace
} // namespace transport_test
