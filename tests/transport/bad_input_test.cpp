// Bad input on raw sockets: each case closes that connection with a counted
// reason, no actor receives anything from it, and the node keeps serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport_fixture.hpp"
#include "troupe/proto/troupe.pb.h"
#include "troupe/transport/handshake.hpp"

namespace transport_test {
namespace {

using namespace troupe::transport;

/// A hand-driven TCP client of a node.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  [[nodiscard]] bool connected() const { return ok_; }
  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the node may already have closed
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  /// Reads what arrives until the node closes the connection; true when it
  /// did within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
      if (n > 0) received_.append(buf, static_cast<std::size_t>(n));
    }
  }
  /// Runs the handshake as a connecting node with `cookie`. True when established.
  bool handshake_with(const std::string& cookie) {
    handshake hs(handshake::role::connector, "raw", 12345, cookie, default_max_frame_bytes);
    std::string out;
    hs.start(out);
    send(out);
    out.clear();
    std::string in;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.append(buf, static_cast<std::size_t>(n));
      framing_error err{};
      const auto used = split_frames(in, default_max_frame_bytes, err, [&](const frame_view& f) {
        hs.on_frame(f, out);
        return true;
      });
      in.erase(0, used);
      send(out);
      out.clear();
      if (hs.state() == handshake::status::established) return true;
      if (hs.state() == handshake::status::failed) return false;
    }
    return false;
  }
  [[nodiscard]] const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string received_;
};

std::string frame(frame_kind k, std::string_view body) {
  std::string f;
  append_frame(f, k, body);
  return f;
}

class bad_input : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = node_opts("target");
    o.handshake_timeout = 300ms;
    o.remote_mailbox_capacity = 64;
    n = std::make_unique<troupe::node>(sys, o);
    e = sys.spawn<echo>();
    n->publish("echo", e);
  }
  void TearDown() override { n.reset(); }

  /// Nothing reached the echo actor, and a well-behaved node is still served.
  void still_serves_and_nothing_delivered() {
    auto c = e.ask(troupe_test::Count{}, 10s).get();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c.value().n(), 0);
    troupe::actor_system other{two_threads()};
    troupe::node good(other, node_opts("good"));
    auto p = good.connect("127.0.0.1", n->port(), 10s);
    ASSERT_TRUE(p.ok()) << p.message();
    expect_echo_adds(p.value());
  }

  troupe::actor_system sys{two_threads()};
  std::unique_ptr<troupe::node> n;
  troupe::actor_ref<echo> e;
};

TEST_F(bad_input, GarbageBytesCloseTheConnection) {
  raw_client c(n->port());
  ASSERT_TRUE(c.connected());
  c.send("GET / HTTP/1.1\r\nHost: example\r\n\r\n");  // "GET " is a 542,393,671-byte length
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(troupe::test::wait_until([&] { return n->stats().bad_frames == 1; }, troupe::test::long_wait));
  still_serves_and_nothing_delivered();
}

TEST_F(bad_input, AnOversizeLengthClosesAtOnce) {
  raw_client c(n->port());
  c.send(std::string("\x00\x00\x00\x7f\x01", 5));
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(troupe::test::wait_until([&] { return n->stats().bad_frames == 1; }, troupe::test::long_wait));
  still_serves_and_nothing_delivered();
}

TEST_F(bad_input, ATruncatedFrameEndsWithTheHandshakeTimeout) {
  raw_client c(n->port());
  c.send(std::string("\x64\x00\x00\x00\x01partial", 12));  // promises 100 bytes, sends 8
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_EQ(n->stats().handshake_timeouts, 1u);
  still_serves_and_nothing_delivered();
}

TEST_F(bad_input, ASilentConnectionIsClosedAfterTheHandshakeTimeout) {
  raw_client c(n->port());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  EXPECT_EQ(n->stats().handshake_timeouts, 1u);
  still_serves_and_nothing_delivered();
}

TEST_F(bad_input, AFrameBeforeTheHandshakeEndsIsRefused) {
  raw_client c(n->port());
  handshake hs(handshake::role::connector, "raw", 1, test_cookie, default_max_frame_bytes);
  std::string out;
  hs.start(out);
  std::string early;
  append_message_frame(early, e.id(), 0, 1, "troupe_test.Ping", 0, [](std::string&) {});
  c.send(out + early);  // HELLO, then a MESSAGE before AUTH
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_NE(c.received().find("before the handshake ended"), std::string::npos);  // the REFUSE says why
  EXPECT_TRUE(troupe::test::wait_until([&] { return n->stats().handshake_failures == 1; }, troupe::test::long_wait));
  still_serves_and_nothing_delivered();
}

TEST_F(bad_input, AWrongSecretIsRefused) {
  raw_client c(n->port());
  EXPECT_FALSE(c.handshake_with("not-the-cookie"));
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(troupe::test::wait_until([&] { return n->stats().auth_failures == 1; }, troupe::test::long_wait));
  still_serves_and_nothing_delivered();
}

TEST_F(bad_input, AnUnknownMessageTypeClosesTheConnection) {
  raw_client c(n->port());
  ASSERT_TRUE(c.handshake_with(test_cookie));
  std::string m;
  append_message_frame(m, e.id(), 0, 1, "no.such.Type", 0, [](std::string& o) { o += "xyz"; });
  c.send(m);
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(troupe::test::wait_until([&] { return n->stats().bad_frames == 1; }, troupe::test::long_wait));
  still_serves_and_nothing_delivered();
}

TEST_F(bad_input, AMalformedPayloadOrUnknownKindClosesTheConnection) {
  {
    raw_client c(n->port());
    ASSERT_TRUE(c.handshake_with(test_cookie));
    std::string m;
    // A Ping whose field 1 claims a 100-byte length-delimited value.
    append_message_frame(m, e.id(), 0, 1, "troupe_test.Ping", 0, [](std::string& o) { o += std::string("\x0a\x64", 2); });
    c.send(m);
    EXPECT_TRUE(c.closed_by_peer(10s));
  }
  {
    raw_client c(n->port());
    ASSERT_TRUE(c.handshake_with(test_cookie));
    c.send(frame(static_cast<frame_kind>(99), "??"));
    EXPECT_TRUE(c.closed_by_peer(10s));
  }
  {
    raw_client c(n->port());
    ASSERT_TRUE(c.handshake_with(test_cookie));
    c.send(std::string("\x00\x00\x00\x00", 4));  // a zero length
    EXPECT_TRUE(c.closed_by_peer(10s));
  }
  EXPECT_TRUE(troupe::test::wait_until([&] { return n->stats().bad_frames == 3; }, troupe::test::long_wait));
  still_serves_and_nothing_delivered();
}

TEST_F(bad_input, MessagesReadBeforeABadFrameAreDeliveredInOrderThenOnlyThatConnectionCloses) {
  // One write: 100 pings, then a ping whose payload is malformed. The reader
  // queues the good ones (in one chain) and must hand them over before it
  // ends the session.
  raw_client c(n->port());
  ASSERT_TRUE(c.handshake_with(test_cookie));
  std::string bytes;
  for (int i = 0; i < 100; ++i) {
    troupe_test::Ping p;
    p.set_seq(i);
    append_message_frame(bytes, e.id(), 0, 1, i == 0 ? "troupe_test.Ping" : "", 0,
                         [&](std::string& o) { o += p.SerializeAsString(); });
  }
  append_message_frame(bytes, e.id(), 0, 1, "", 0, [](std::string& o) { o += std::string("\x0a\x64", 2); });
  c.send(bytes);
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(troupe::test::wait_until([&] { return n->stats().bad_frames == 1; }, troupe::test::long_wait));
  auto counted = e.ask(troupe_test::Count{}, 10s).get();
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(counted.value().n(), 100);
  EXPECT_EQ(counted.value().last_seq(), 99);
  EXPECT_TRUE(counted.value().in_order());
}

} // namespace
} // namespace transport_test

namespace transport_test {
namespace {

TEST_F(bad_input, CodecBytesThatDoNotDecodeAreACountedDeadLetterNotADelivery) {
  auto k = sys.spawn<bank>();
  n->publish("bank", k);
  raw_client c(n->port());
  ASSERT_TRUE(c.handshake_with(test_cookie));
  std::string m;
  // A codec's bytes cannot be checked before the receiver decodes them: the
  // receiver's turn refuses them (a dead letter), the connection stays.
  append_message_frame(m, k.id(), 0, 1, "transport_test.money", 0, [](std::string& o) { o += "not-money"; });
  c.send(m);
  const auto idx = static_cast<std::size_t>(troupe::drop_reason::malformed);
  EXPECT_TRUE(troupe::test::wait_until([&] { return sys.stats().dead_letters[idx] == 1; }, troupe::test::long_wait));
  auto total = k.ask(money{0, "EUR"}, 10s).get();
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(total.value().cents, 0);  // nothing was delivered
  EXPECT_EQ(n->stats().bad_frames, 0u);
  still_serves_and_nothing_delivered();
}

} // namespace
} // namespace transport_test

namespace transport_test {
namespace {

/// Sends blobs to a remote actor until the connection pushes back.
struct blob_sender : troupe::actor<blob_sender> {
  struct go {};
  using report = troupe::actor_ref<troupe::inbox<std::int64_t>::actor_type>;
  blob_sender(troupe::actor_ref<echo> to, report r) : to_(std::move(to)), report_(std::move(r)) {}
  void on(go) {
    troupe_test::Blob b;
    b.set_data(std::string(64 * 1024, 'b'));
    for (std::int64_t i = 0; i < 5000; ++i) {
      if (to_.tell(troupe_test::Blob(b)) == troupe::send_result::muted) {
        report_.tell(i);
        return;
      }
    }
    report_.tell(-1);  // never muted
  }
  troupe::actor_ref<echo> to_;
  report report_;
};

TEST_F(bad_input, APeerThatDoesNotReadMutesItsSendersInsteadOfGrowingMemory) {
  raw_client c(n->port());
  ASSERT_TRUE(c.handshake_with(test_cookie));  // ... and then never reads
  ASSERT_TRUE(troupe::test::wait_until([&] { return n->find_peer("raw").has_value(); }, troupe::test::long_wait));
  auto remote_echo = n->find_peer("raw")->resolve<echo>(1);
  troupe::inbox<std::int64_t> in(sys);
  sys.spawn<blob_sender>(remote_echo, in.ref()).tell(blob_sender::go{});
  auto muted_after = in.receive(30s);
  ASSERT_TRUE(muted_after.has_value());
  // Muted once the socket, the 4 MiB write buffer and the proxy's queue are
  // full: a few hundred 64 KiB blobs, not all 5000 (320 MiB).
  EXPECT_GE(*muted_after, 0);
  EXPECT_LT(*muted_after, 2000);
}

} // namespace
} // namespace transport_test
