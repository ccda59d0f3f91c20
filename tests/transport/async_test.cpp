// connect and lookup without blocking: a future from outside the actor
// system, a continuation on the calling actor's turn from inside it; and
// the warning when a blocking form is called from a handler.
#include <future>
#include <memory>
#include <stdexcept>

#include "raw_peers.hpp"
#include "support/captured_log.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

using troupe_test::Add;
using troupe_test::Sum;

/// A port nobody listens on (listened on, then closed).
std::uint16_t closed_port() {
  raw_listener gone;
  return gone.port();
}

TEST_F(two_nodes, ConnectAsyncAndLookupAsyncReturnFuturesThatAnswer) {
  b->publish("echo", sys_b.spawn<echo>());
  auto connecting = a->connect_async("127.0.0.1", b->port(), 10s);
  auto p = connecting.get();
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p.value().name(), "beta");

  auto found = p.value().lookup_async<echo>("echo", 10s).get();
  ASSERT_TRUE(found.ok()) << found.message();
  Add add;
  add.set_a(2);
  add.set_b(40);
  auto s = found.value().ask(add, 10s).get();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.value().value(), 42);

  auto missing = p.value().lookup_async<echo>("nobody", 10s).get();
  EXPECT_EQ(missing.error(), troupe::errc::not_published) << missing.message();
  auto wrong = p.value().lookup_async<holder>("echo", 10s).get();
  EXPECT_EQ(wrong.error(), troupe::errc::interface_mismatch) << wrong.message();
}

TEST_F(two_nodes, ConnectAsyncReportsFailureAndTimeout) {
  auto refused = a->connect_async("127.0.0.1", closed_port(), 10s).get();
  EXPECT_EQ(refused.error(), troupe::errc::io_error) << refused.message();

  raw_listener silent;  // never accepts: the handshake never ends
  ASSERT_TRUE(silent.listening());
  const auto t0 = std::chrono::steady_clock::now();
  auto late = a->connect_async("127.0.0.1", silent.port(), 200ms).get();
  EXPECT_EQ(late.error(), troupe::ask_error::timeout) << late.message();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
}

TEST_F(two_nodes, ALookupOfAPeerThatWentDownFailsAtOnce) {
  b->publish("echo", sys_b.spawn<echo>());
  troupe::peer pb = connect_a_to_b();
  b.reset();
  pb.wait_down();
  auto r = pb.lookup_async<echo>("echo", 10s).get();
  EXPECT_EQ(r.error(), troupe::ask_error::node_down) << r.message();
}

TEST_F(two_nodes, ABlockingLookupInsideATransportCallbackThrowsInsteadOfHanging) {
  b->publish("echo", sys_b.spawn<echo>());
  troupe::peer pb = connect_a_to_b();
  std::promise<bool> threw;
  pb.lookup_then<echo>("echo", 10s, [&](troupe::result<troupe::actor_ref<echo>>) {
    try {
      (void)pb.lookup<echo>("echo", 1s);
      threw.set_value(false);
    } catch (const std::logic_error&) {
      threw.set_value(true);
    }
  });
  auto f = threw.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready) << "the callback hung";
  EXPECT_TRUE(f.get());
}

/// Connects to beta and looks up its echo from its own handler, without
/// blocking its worker; reports what the continuations saw, and whether
/// they ran on this actor's turn.
struct dialler : troupe::actor<dialler> {
  struct go {
    std::uint16_t port;
  };
  /// Over a Unix socket (`shm` false) or shared memory through it.
  struct go_local {
    std::string path;
    bool shm;
  };
  struct report {
    bool ok = false;
    bool on_my_turn = false;
    std::int64_t sum = 0;
    std::string error;
  };
  dialler(troupe::node& n, troupe::actor_ref<troupe::inbox<report>::actor_type> out) : node_(n), out_(std::move(out)) {}

  void on(go g) {
    node_.connect("127.0.0.1", g.port, 10s, [this](troupe::result<troupe::peer> p) { add_through(std::move(p)); });
  }
  void on(const go_local& g) {
    auto then = [this](troupe::result<troupe::peer> p) { add_through(std::move(p)); };
    if (g.shm) {
      node_.connect_shm(g.path, 10s, then);
    } else {
      node_.connect_unix(g.path, 10s, then);
    }
  }
  /// Looks up the peer's echo and asks it 20 + 22, each step a continuation.
  void add_through(troupe::result<troupe::peer> p) {
    if (!p.ok()) return out_.tell(report{false, mine(), 0, std::string(p.message())}), void();
    p.value().lookup<echo>("echo", 10s, [this](troupe::result<troupe::actor_ref<echo>> e) {
      if (!e.ok()) return out_.tell(report{false, mine(), 0, std::string(e.message())}), void();
      Add add;
      add.set_a(20);
      add.set_b(22);
      ask(e.value(), add, 10s, [this](troupe::result<Sum> s) {
        out_.tell(report{s.ok(), mine(), s.ok() ? s.value().value() : 0, std::string(s.message())});
      });
    });
  }
  bool mine() { return troupe::detail::current_cell() == self().cell(); }

  troupe::node& node_;
  troupe::actor_ref<troupe::inbox<report>::actor_type> out_;
};

TEST_F(two_nodes, InsideAnActorConnectAndLookupRunTheirContinuationsOnItsTurn) {
  b->publish("echo", sys_b.spawn<echo>());
  troupe::inbox<dialler::report> out(sys_a);
  auto d = sys_a.spawn<dialler>(*a, out.ref());
  d.tell(dialler::go{b->port()});
  auto r = out.receive(20s);
  ASSERT_TRUE(r.has_value()) << "no report";
  EXPECT_TRUE(r->ok) << r->error;
  EXPECT_TRUE(r->on_my_turn);
  EXPECT_EQ(r->sum, 42);
}

TEST(local_links, UnixAndSharedMemoryConnectsNeverBlockFromOutsideOrInsideAnActor) {
  troupe::actor_system sys_a{two_threads()};
  troupe::actor_system sys_b{two_threads()};
  const std::string base = "/tmp/troupe-async-" + std::to_string(::getpid());
  auto beta = node_opts("beta");
  beta.listen_unix = base + ".sock";
  beta.listen_shm = base + ".shm";
  troupe::node b(sys_b, beta);
  b.publish("echo", sys_b.spawn<echo>());
  troupe::node a(sys_a, node_opts("alpha"));
  // From outside: futures.
  auto missing = a.connect_unix_async(base + ".nobody", 10s).get();
  EXPECT_FALSE(missing.ok());
  auto over_unix = a.connect_unix_async(beta.listen_unix, 10s).get();
  ASSERT_TRUE(over_unix.ok()) << over_unix.message();
  EXPECT_EQ(over_unix.value().name(), "beta");
  over_unix.value().close();
  ASSERT_TRUE(troupe::test::wait_until([&] { return !a.find_peer("beta").has_value(); }, 10s));
  // From an actor: continuations on its turn, over shared memory.
  troupe::inbox<dialler::report> out(sys_a);
  auto d = sys_a.spawn<dialler>(a, out.ref());
  d.tell(dialler::go_local{beta.listen_shm, true});
  auto r = out.receive(20s);
  ASSERT_TRUE(r.has_value()) << "no report";
  EXPECT_TRUE(r->ok) << r->error;
  EXPECT_TRUE(r->on_my_turn);
  EXPECT_EQ(r->sum, 42);
  EXPECT_THROW(a.connect_shm(beta.listen_shm, 1s, [](troupe::result<troupe::peer>) {}), std::logic_error)
      << "outside an actor's turn";
  EXPECT_THROW(a.connect_unix_async("", 1s), std::invalid_argument);
}

TEST_F(two_nodes, TheContinuationFormsNeedAnActorsTurn) {
  EXPECT_THROW(a->connect("127.0.0.1", b->port(), 1s, [](troupe::result<troupe::peer>) {}), std::logic_error);
  troupe::peer pb = connect_a_to_b();
  EXPECT_THROW(pb.lookup<echo>("echo", 1s, [](troupe::result<troupe::actor_ref<echo>>) {}), std::logic_error);
}

/// Calls the blocking connect from its handler (what the warning is for).
struct blocking_dialler : troupe::actor<blocking_dialler> {
  explicit blocking_dialler(troupe::node& n) : node_(n) {}
  bool on(std::uint16_t port) { return node_.connect("127.0.0.1", port, 10s).ok(); }
  troupe::node& node_;
};

TEST_F(two_nodes, ABlockingConnectFromAHandlerIsLoggedOnce) {
  troupe::test::captured_log log;
  auto outside = a->connect("127.0.0.1", b->port(), 10s);  // not from a handler: no line
  ASSERT_TRUE(outside.ok()) << outside.message();
  EXPECT_EQ(log.count("was called from an actor's handler"), 0u);
  auto d = sys_a.spawn<blocking_dialler>(*a);
  for (int i = 0; i < 2; ++i) {
    auto r = d.ask(b->port(), 20s).get();
    ASSERT_TRUE(r.ok() && r.value()) << r.message();
  }
  EXPECT_EQ(log.count("troupe::node::connect was called from an actor's handler"), 1u);
}

} // namespace
} // namespace transport_test
