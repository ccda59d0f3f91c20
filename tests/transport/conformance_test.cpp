// One conformance suite run against every transport: TCP, a Unix socket, a
// socketpair, a pipe pair and shared memory. The session, framing and handshake are the
// same; only the byte stream differs, and each must behave the same.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "transport_fixture.hpp"

namespace transport_test {
namespace {

using troupe_test::Count;
using troupe_test::Crash;
using troupe_test::Ping;

enum class kind { tcp, unix_socket, socketpair, pipes, shm };

std::string name_of(kind k) {
  switch (k) {
    case kind::tcp: return "Tcp";
    case kind::unix_socket: return "UnixSocket";
    case kind::socketpair: return "Socketpair";
    case kind::pipes: return "Pipes";
    case kind::shm: return "SharedMemory";
  }
  return "?";
}

/// Descriptors for the two ends of a stream between alpha and beta.
struct ends {
  int a_read, a_write, b_read, b_write;
};

ends make_ends(kind k) {
  if (k == kind::socketpair) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("socketpair");
    return {sv[0], sv[0], sv[1], sv[1]};
  }
  int ab[2], ba[2];
  if (::pipe2(ab, O_CLOEXEC) != 0 || ::pipe2(ba, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  return {ba[0], ab[1], ab[0], ba[1]};
}

class conformance : public ::testing::TestWithParam<kind> {
 protected:
  void SetUp() override {
    auto ob = node_opts("beta");
    if (GetParam() == kind::unix_socket || GetParam() == kind::shm) {
      path_ = (std::filesystem::temp_directory_path() / ("troupe-conf-" + std::to_string(::getpid()) + ".sock")).string();
      (GetParam() == kind::shm ? ob.listen_shm : ob.listen_unix) = path_;
    }
    a = std::make_unique<troupe::node>(sys_a, node_opts("alpha"));
    b = std::make_unique<troupe::node>(sys_b, ob);
  }
  void TearDown() override {
    a.reset();
    b.reset();
  }

  /// alpha's session with beta, over this test's transport.
  troupe::peer connect() {
    troupe::result<troupe::peer> r = troupe::failure{troupe::ask_error::timeout, "not tried"};
    switch (GetParam()) {
      case kind::tcp: r = a->connect("127.0.0.1", b->port(), 10s); break;
      case kind::unix_socket: r = a->connect_unix(path_, 10s); break;
      case kind::shm: r = a->connect_shm(path_, 10s); break;
      case kind::socketpair:
      case kind::pipes: {
        const ends e = make_ends(GetParam());
        troupe::result<troupe::peer> rb = troupe::failure{troupe::ask_error::timeout, "not tried"};
        std::thread t([&] { rb = b->adopt(e.b_read, e.b_write, false, 10s); });
        r = a->adopt(e.a_read, e.a_write, true, 10s);
        t.join();
        EXPECT_TRUE(rb.ok()) << rb.message();
        break;
      }
    }
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? r.value() : troupe::peer();
  }

  troupe::actor_system sys_a{two_threads()};
  troupe::actor_system sys_b{two_threads()};
  std::unique_ptr<troupe::node> a;
  std::unique_ptr<troupe::node> b;
  std::string path_;
};

TEST_P(conformance, TellsArriveInOrderAndAsksReply) {
  b->publish("echo", sys_b.spawn<echo>());
  auto e = connect().lookup<echo>("echo", 10s);
  ASSERT_TRUE(e.ok()) << e.message();
  const std::int64_t n = troupe::test::scaled(20000, 2000);
  for (std::int64_t i = 0; i < n; ++i) {
    Ping p;
    p.set_seq(i);
    e.value().tell(p);
  }
  auto c = e.value().ask(Count{}, 20s).get();
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c.value().n(), n);
  EXPECT_TRUE(c.value().in_order());
}

TEST_P(conformance, MonitorsSeeACrashAndThenTheNodeGoingDown) {
  b->publish("echo", sys_b.spawn<echo>());
  b->publish("other", sys_b.spawn<echo>());
  troupe::peer pb = connect();
  auto e = pb.lookup<echo>("echo", 10s).value();
  auto o = pb.lookup<echo>("other", 10s).value();
  events in(sys_a);
  auto w = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(w.ask(probe::watch{e}, 10s).get().ok());
  ASSERT_TRUE(w.ask(probe::watch{o}, 10s).get().ok());
  e.tell(Crash{});
  const event crash = next(in);
  EXPECT_EQ(crash.reason, troupe::exit_reason::exception);
  ASSERT_TRUE(o.ask(Count{}, 10s).get().ok());
  b.reset();
  const event gone = next(in);
  EXPECT_EQ(gone.reason, troupe::exit_reason::node_down);
  EXPECT_EQ(o.ask(Count{}, 10s).get().error(), troupe::ask_error::node_down);
}

/// Garbage written straight into a stream beta serves (raw TCP garbage is
/// in bad_input_test): that session ends with a counted reason, the other
/// session goes on.
class garbage_on : public conformance {};

TEST_P(garbage_on, TheStreamClosesThatSessionOnly) {
  b->publish("echo", sys_b.spawn<echo>());
  troupe::peer good = connect();  // a working session next to the bad one
  const std::string garbage("\x05\x00\x00\x00\x63junk and more junk", 23);
  if (GetParam() == kind::unix_socket || GetParam() == kind::shm) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path_.c_str());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::write(fd, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
    EXPECT_TRUE(troupe::test::wait_until([&] { return b->stats().handshake_failures == 1; }, troupe::test::long_wait));
    ::close(fd);
  } else {
    const ends e = make_ends(GetParam());
    troupe::result<troupe::peer> r = troupe::failure{troupe::ask_error::timeout, ""};
    std::thread t([&] { r = b->adopt(e.b_read, e.b_write, false, 10s); });
    ASSERT_EQ(::write(e.a_write, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
    t.join();
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.message().find("before the handshake ended"), std::string::npos) << r.message();
    EXPECT_EQ(b->stats().handshake_failures, 1u);
    ::close(e.a_read);
    if (e.a_write != e.a_read) ::close(e.a_write);
  }
  EXPECT_TRUE(good.lookup<echo>("echo", 10s).ok());  // the other session is untouched
}

INSTANTIATE_TEST_SUITE_P(streams, garbage_on, ::testing::Values(kind::unix_socket, kind::socketpair, kind::pipes, kind::shm),
                         [](const ::testing::TestParamInfo<kind>& i) { return name_of(i.param); });

INSTANTIATE_TEST_SUITE_P(transports, conformance,
                         ::testing::Values(kind::tcp, kind::unix_socket, kind::socketpair, kind::pipes, kind::shm),
                         [](const ::testing::TestParamInfo<kind>& i) { return name_of(i.param); });

} // namespace
} // namespace transport_test
