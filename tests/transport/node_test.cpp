// Two nodes in one process over loopback TCP: remote tell, ask, lookup,
// monitors, links, node down, and the run-time refusals.

#include <thread>

#include <charconv>
#include <cstdlib>

#include "support/captured_log.hpp"
#include "transport_fixture.hpp"
#include "link/flow_credit.hpp"

namespace transport_test {
namespace {

using troupe_test::Add;
using troupe_test::Count;
using troupe_test::Crash;
using troupe_test::Ping;

TEST_F(two_nodes, TellsArriveExactlyOnceInOrderAndAsksReply) {
  b->publish("echo", sys_b.spawn<echo>());
  troupe::peer pb = connect_a_to_b();
  ASSERT_TRUE(pb);
  EXPECT_EQ(pb.name(), "beta");
  EXPECT_EQ(pb.incarnation(), b->incarnation());
  auto r = pb.lookup<echo>("echo", 10s);
  ASSERT_TRUE(r.ok()) << r.message();
  troupe::actor_ref<echo> e = r.value();

  const std::int64_t n = troupe::test::scaled(20000, 2000);
  for (std::int64_t i = 0; i < n; ++i) {
    Ping p;
    p.set_seq(i);
    p.set_note("sixteen bytes...");
    ASSERT_TRUE(troupe::accepted(e.tell(p)));
  }
  auto c = e.ask(Count{}, 20s).get();
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c.value().n(), n);
  EXPECT_EQ(c.value().last_seq(), n - 1);
  EXPECT_TRUE(c.value().in_order());

  Add add;
  add.set_a(40);
  add.set_b(2);
  auto s = e.ask(add, 10s).get();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.value().value(), 42);
  EXPECT_GE(a->stats().messages_out, std::uint64_t(n));
  EXPECT_GE(b->stats().messages_in, std::uint64_t(n));
  // Many frames per write: far fewer writes than messages.
  EXPECT_LT(a->stats().writes, std::uint64_t(n));
}

TEST_F(two_nodes, LookupOfAMissingNameOrTheWrongTypeFailsClearly) {
  b->publish("echo", sys_b.spawn<echo>());
  troupe::peer pb = connect_a_to_b();
  auto missing = pb.lookup<echo>("nobody", 10s);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), troupe::errc::not_published);
  EXPECT_NE(missing.message().find("nothing is published as 'nobody'"), std::string::npos) << missing.message();
  auto wrong = pb.lookup<holder>("echo", 10s);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error(), troupe::errc::interface_mismatch);
  // Both types as C++ spells them, not as the compiler mangles them.
  EXPECT_NE(wrong.message().find("is not of the requested actor type transport_test::holder (it is "
                                 "troupe_test::echo)"),
            std::string::npos)
      << wrong.message();
}

TEST_F(two_nodes, ConnectingTwiceGivesTheSameSession) {
  troupe::peer first = connect_a_to_b();
  auto again = a->connect("127.0.0.1", b->port(), 10s);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again.value(), first);
  EXPECT_EQ(a->find_peer("beta").value(), first);
  EXPECT_EQ(a->stats().handshake_failures, 0u);
  EXPECT_EQ(b->stats().handshake_failures, 0u);
}

TEST_F(two_nodes, NodesDiallingEachOtherAtOnceKeepOneWorkingSession) {
  b->publish("echo", sys_b.spawn<echo>());
  a->publish("echo", sys_a.spawn<echo>());
  troupe::result<troupe::peer> from_a = troupe::failure{troupe::ask_error::timeout, ""};
  troupe::result<troupe::peer> from_b = troupe::failure{troupe::ask_error::timeout, ""};
  std::thread t([&] { from_b = b->connect("127.0.0.1", a->port(), 10s); });
  from_a = a->connect("127.0.0.1", b->port(), 10s);
  t.join();
  ASSERT_TRUE(from_a.ok()) << from_a.message();
  ASSERT_TRUE(from_b.ok()) << from_b.message();
  // Whatever the interleaving, each side ends with one live session that works.
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        auto pa = a->find_peer("beta");
        auto pb = b->find_peer("alpha");
        return pa && pb && pa->alive() && pb->alive();
      },
      troupe::test::long_wait));
  auto e1 = a->find_peer("beta")->lookup<echo>("echo", 10s);
  auto e2 = b->find_peer("alpha")->lookup<echo>("echo", 10s);
  ASSERT_TRUE(e1.ok()) << e1.message();
  ASSERT_TRUE(e2.ok()) << e2.message();
  EXPECT_TRUE(e1.value().ask(Count{}, 10s).get().ok());
  EXPECT_TRUE(e2.value().ask(Count{}, 10s).get().ok());
}

TEST_F(two_nodes, MonitorOfARemoteActorSeesItsCrash) {
  b->publish("echo", sys_b.spawn<echo>());
  auto e = connect_a_to_b().lookup<echo>("echo", 10s).value();
  events in(sys_a);
  auto w = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(w.ask(probe::watch{e}, 10s).get().ok());
  e.tell(Crash{});
  const event ev = next(in);
  EXPECT_EQ(ev.kind, "down");
  EXPECT_EQ(ev.reason, troupe::exit_reason::exception);
  EXPECT_EQ(ev.what, "crash requested");
}

TEST_F(two_nodes, LinkToARemoteActorCarriesItsExit) {
  b->publish("echo", sys_b.spawn<echo>(), troupe::remote_control::link);
  auto e = connect_a_to_b().lookup<echo>("echo", 10s).value();
  events in(sys_a);
  auto l = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(l.ask(probe::link_to{e}, 10s).get().ok());
  // The link is in place on beta once an ask behind it is answered.
  ASSERT_TRUE(e.ask(Count{}, 10s).get().ok());
  e.tell(Crash{});
  const event ev = next(in);
  EXPECT_EQ(ev.kind, "exit");
  EXPECT_EQ(ev.reason, troupe::exit_reason::exception);
}

TEST_F(two_nodes, RemoteStopStopsThePublishedActor) {
  auto local = sys_b.spawn<echo>();
  b->publish("echo", local, troupe::remote_control::stop);
  auto e = connect_a_to_b().lookup<echo>("echo", 10s).value();
  events in(sys_a);
  auto w = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(w.ask(probe::watch{e}, 10s).get().ok());
  e.stop();
  const event ev = next(in);
  EXPECT_EQ(ev.kind, "down");
  EXPECT_EQ(ev.reason, troupe::exit_reason::stopped);
}

TEST_F(two_nodes, NodeDownReachesMonitorsLinksAsksAndLaterSends) {
  b->publish("echo", sys_b.spawn<echo>(), troupe::remote_control::link);
  b->publish("holder", sys_b.spawn<holder>());
  troupe::peer pb = connect_a_to_b();
  auto e = pb.lookup<echo>("echo", 10s).value();
  auto h = pb.lookup<holder>("holder", 10s).value();
  events in(sys_a);
  auto w = sys_a.spawn<probe>(in.ref());
  auto l = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(w.ask(probe::watch{e}, 10s).get().ok());
  ASSERT_TRUE(l.ask(probe::link_to{e}, 10s).get().ok());
  auto pending = h.ask(Ping{}, 30s);
  ASSERT_TRUE(e.ask(Count{}, 10s).get().ok());  // everything above reached beta

  const auto t0 = std::chrono::steady_clock::now();
  b.reset();  // beta goes away
  auto r = pending.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::ask_error::node_down);
  EXPECT_EQ(node_down_kinds(in, 2), (std::multiset<std::string>{"down", "exit"}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_FALSE(pb.alive());
  EXPECT_EQ(e.tell(Ping{}), troupe::send_result::dead);
  const auto dead = sys_a.stats().dead_letters[static_cast<std::size_t>(troupe::drop_reason::node_down)];
  EXPECT_GE(dead, 1u);
  // A monitor placed after the fact fires at once.
  auto late = sys_a.spawn<probe>(in.ref());
  ASSERT_TRUE(late.ask(probe::watch{e}, 10s).get().ok());
  EXPECT_EQ(next(in).reason, troupe::exit_reason::node_down);
  auto again = pb.lookup<echo>("echo", 1s);
  EXPECT_EQ(again.error(), troupe::ask_error::node_down);
}

/// Blocks in its first message until the test opens the gate, then counts.
struct stalled : troupe::actor<stalled> {
  using remote_interface = troupe::accepts<Ping, Count>;
  explicit stalled(troupe::test::gate* g) : gate_(g) {}
  troupe_test::Pong on(Ping p) {
    if (n == 0) (void)gate_->wait_for(troupe::test::long_wait);
    if (p.seq() != last + 1) in_order = false;
    last = p.seq();
    ++n;
    return {};
  }
  troupe_test::Counted on(Count) {
    troupe_test::Counted c;
    c.set_n(n);
    c.set_in_order(in_order);
    return c;
  }
  troupe::test::gate* gate_;
  std::int64_t n = 0, last = -1;
  bool in_order = true;
};

/// Sends pings to a remote actor until it is muted; reports how many went.
struct flooder : troupe::actor<flooder> {
  struct go {};
  using report = troupe::actor_ref<troupe::inbox<std::int64_t>::actor_type>;
  flooder(troupe::actor_ref<stalled> to, report r) : to_(std::move(to)), report_(std::move(r)) {}
  void on(go) {
    for (std::int64_t i = 0; i < 100000; ++i) {
      Ping p;
      p.set_seq(i);
      if (to_.tell(p) == troupe::send_result::muted) {
        report_.tell(i + 1);
        return;
      }
    }
    report_.tell(std::int64_t{-1});  // never muted
  }
  troupe::actor_ref<stalled> to_;
  report report_;
};

TEST_F(two_nodes, ASlowRemoteReceiverMutesItsSendersAcrossTheNetwork) {
  troupe::test::gate g;
  troupe::test::gate_opener opener(g);
  b->publish("slow", sys_b.spawn<stalled>(&g));
  auto slow = connect_a_to_b().lookup<stalled>("slow", 10s).value();
  troupe::inbox<std::int64_t> in(sys_a);
  sys_a.spawn<flooder>(slow, in.ref()).tell(flooder::go{});
  auto sent = in.receive(30s);
  ASSERT_TRUE(sent.has_value());
  // Muted once the receiver's credit (in flight) and the proxy's queue are
  // used up: far fewer than the 100,000 it would send otherwise.
  ASSERT_GT(*sent, 0);
  EXPECT_LE(*sent, troupe::transport::initial_credit + 8192 + 1);
  g.open();  // the receiver catches up; credit flows back; everything arrives
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        auto c = slow.ask(Count{}, 10s).get();
        return c.ok() && c.value().n() == *sent;
      },
      troupe::test::long_wait));
  EXPECT_TRUE(slow.ask(Count{}, 10s).get().value().in_order());
}

/// Sends `n` pings to a remote actor without pausing when muted.
struct pusher : troupe::actor<pusher> {
  explicit pusher(troupe::actor_ref<stalled> to) : to_(std::move(to)) {}
  bool on(std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      Ping p;
      p.set_seq(i);
      if (!troupe::accepted(to_.tell(p))) return false;
    }
    return true;
  }
  troupe::actor_ref<stalled> to_;
};

TEST_F(two_nodes, ASenderWaitingForCreditLongerThanTheHeartbeatTimeoutIsCountedOnce) {
  troupe::test::gate g;
  troupe::test::gate_opener opener(g);
  troupe::test::captured_log log;
  b->publish("slow", sys_b.spawn<stalled>(&g));
  auto slow = connect_a_to_b().lookup<stalled>("slow", 10s).value();
  // More than the window: the proxy spends it all and waits for a grant
  // that does not come while the receiver is stuck.
  const std::int64_t n = troupe::transport::initial_credit + 1000;
  ASSERT_TRUE(sys_a.spawn<pusher>(slow).ask(n, 30s).get().value());
  EXPECT_TRUE(troupe::test::wait_until([&] { return a->stats().credit_stalls == 1; }, troupe::test::long_wait));
  // Counted, then logged: the line may follow the count by a moment.
  EXPECT_TRUE(troupe::test::wait_until([&] { return log.contains("have waited"); }, troupe::test::long_wait));
  g.open();
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        auto c = slow.ask(Count{}, 10s).get();
        return c.ok() && c.value().n() == n;
      },
      troupe::test::long_wait));
  EXPECT_TRUE(slow.ask(Count{}, 10s).get().value().in_order());
  EXPECT_GE(a->stats().credit_stalls, 1u);  // (once per wait: flow_credit_test; catching up may wait again)
}

struct plain {
  int x = 0;
};
/// Handles a type that cannot cross the network, a protobuf message it
/// does not list in its remote_interface, and one it lists.
struct mixed : troupe::actor<mixed> {
  using remote_interface = troupe::accepts<Ping>;
  troupe_test::Pong on(Ping) { return {}; }
  void on(plain) {}
  troupe_test::Pong on(troupe_test::Pong p) { return p; }
};

// Refused at once, with a result of its own (it used to answer ok and count
// the dead letter later, on the link's thread).
TEST_F(two_nodes, SendingATypeThatCannotCrossIsRefusedAtOnceAndCounted) {
  b->publish("mixed", sys_b.spawn<mixed>());
  auto m = connect_a_to_b().lookup<mixed>("mixed", 10s).value();
  const auto idx = static_cast<std::size_t>(troupe::drop_reason::not_serializable);
  EXPECT_EQ(m.tell(plain{7}), troupe::send_result::not_serializable);
  EXPECT_EQ(sys_a.stats().dead_letters[idx], 1u);
  EXPECT_EQ(m.tell(troupe_test::Pong{}), troupe::send_result::not_serializable) << "not in its remote_interface";
  EXPECT_EQ(sys_a.stats().dead_letters[idx], 2u);
  EXPECT_EQ(troupe::to_string(troupe::send_result::not_serializable), "not_serializable");
  EXPECT_TRUE(m.ask(Ping{}, 10s).get().ok());  // the session is fine
  EXPECT_EQ(sys_b.stats().dead_letters[idx], 0u);
}

// An ask of a type the remote actor does not list fails on this side, as
// the tell does, instead of going over the wire to a node that cannot
// decode it.
TEST_F(two_nodes, AskingATypeNotInTheRemoteInterfaceFailsHere) {
  b->publish("mixed", sys_b.spawn<mixed>());
  auto m = connect_a_to_b().lookup<mixed>("mixed", 10s).value();
  const auto idx = static_cast<std::size_t>(troupe::drop_reason::not_serializable);
  auto r = m.ask(troupe_test::Pong{}, 10s).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::ask_error::exception) << r.message();
  EXPECT_EQ(sys_a.stats().dead_letters[idx], 1u);
  EXPECT_EQ(sys_b.stats().total_dead(), 0u) << "nothing reached the other node";
  EXPECT_TRUE(m.ask(Ping{}, 10s).get().ok());
}

// A handle typed by what it accepts sends to a remote actor as its
// actor_ref does: encoded on the sender, refused when it cannot cross.
TEST_F(two_nodes, ATypedRefToARemoteActorSendsAndRefusesAsItsActorRefDoes) {
  b->publish("mixed", sys_b.spawn<mixed>());
  troupe::ref<plain, troupe_test::Pong(Ping)> m = connect_a_to_b().lookup<mixed>("mixed", 10s).value();
  EXPECT_EQ(m.tell(plain{7}), troupe::send_result::not_serializable);
  EXPECT_EQ(m.tell(Ping{}), troupe::send_result::ok);
  EXPECT_TRUE(m.ask(Ping{}, 10s).get().ok());
  EXPECT_EQ(sys_a.stats().dead_letters[static_cast<std::size_t>(troupe::drop_reason::not_serializable)], 1u);
}

TEST_F(two_nodes, ATypeWithACodecCrossesBothWays) {
  b->publish("bank", sys_b.spawn<bank>());
  auto k = connect_a_to_b().lookup<bank>("bank", 10s).value();
  k.tell(money{250, "EUR"});
  auto r = k.ask(money{50, "EUR"}, 10s).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value().cents, 300);
  EXPECT_EQ(r.value().currency, "EUR");
}

TEST_F(two_nodes, ARemoteAskTimesOutWhenNoReplyComes) {
  b->publish("holder", sys_b.spawn<holder>());
  auto h = connect_a_to_b().lookup<holder>("holder", 10s).value();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = h.ask(Ping{}, 200ms).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::ask_error::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
}

/// What a program without the echo's code sees: its handlers, no bodies.
struct echo_api : troupe::interface {
  using remote_interface = troupe::accepts<Ping, Count>;
  troupe_test::Pong on(Ping);
  troupe_test::Counted on(Count);
};
struct sum_api : troupe::interface {
  using remote_interface = troupe::accepts<money>;
  money on(money);
};

TEST_F(two_nodes, AnInterfaceHandleIsCheckedAgainstWhatThePublishedActorAccepts) {
  b->publish("echo", sys_b.spawn<echo>());
  troupe::peer pb = connect_a_to_b();
  auto e = pb.lookup<echo_api>("echo", 10s);
  ASSERT_TRUE(e.ok()) << e.message();
  Ping p;
  p.set_seq(0);
  auto pong = e.value().ask(p, 10s).get();
  ASSERT_TRUE(pong.ok()) << pong.message();
  auto wrong = pb.lookup<sum_api>("echo", 10s);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("does not accept transport_test.money"), std::string::npos) << wrong.message();
}

TEST_F(two_nodes, AWrongCookieIsRefusedOnBothSidesWithTheReason) {
  troupe::actor_system sys_c{two_threads()};
  auto opts = node_opts("gamma");
  opts.cookie = "another-cookie-of-enough-bytes";
  troupe::node c(sys_c, opts);
  auto r = c.connect("127.0.0.1", b->port(), 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::errc::auth_failed) << "a caller can tell a wrong cookie from a dead host";
  EXPECT_NE(r.message().find("authentication failed"), std::string::npos) << r.message();
  EXPECT_TRUE(troupe::test::wait_until([&] { return b->stats().auth_failures == 1; }, troupe::test::long_wait));
  EXPECT_EQ(c.stats().auth_failures, 1u);
  EXPECT_FALSE(b->find_peer("gamma").has_value());
  EXPECT_TRUE(connect_a_to_b().alive());  // beta still serves others
}

TEST(NodeOptions, BadValuesAreRefusedWhereGiven) {
  troupe::actor_system sys{two_threads()};
  auto with = [](auto change) {
    auto o = node_opts("x");
    change(o);
    return o;
  };
  EXPECT_THROW(troupe::node(sys, with([](auto& o) { o.heartbeat_timeout = o.heartbeat_interval; })), std::invalid_argument);
  EXPECT_THROW(troupe::node(sys, with([](auto& o) { o.max_frame_bytes = 10; })), std::invalid_argument);
  EXPECT_THROW(troupe::node(sys, with([](auto& o) { o.handshake_timeout = -1ms; })), std::invalid_argument);
  EXPECT_THROW(troupe::node(sys, with([](auto& o) { o.listen_host = "not-an-address"; })), std::invalid_argument);
  EXPECT_THROW(troupe::node(sys, with([](auto& o) { o.remote_mailbox_capacity = 0; })), std::invalid_argument);
  EXPECT_THROW(troupe::node(sys, with([](auto& o) { o.remote_mailbox_capacity = troupe::mailbox::max_capacity + 1; })),
               std::invalid_argument);
  EXPECT_THROW(troupe::node(sys, with([](auto& o) { o.max_transfer_bytes = 4096; })), std::invalid_argument);
  EXPECT_THROW(troupe::node(sys, with([](auto& o) { o.name = std::string(300, 'n'); })), std::invalid_argument);
}

TEST(NodeOptions, ConnectToAClosedPortFailsWithTheReason) {
  troupe::actor_system sys{two_threads()};
  troupe::node n(sys, node_opts("lonely"));
  std::uint16_t closed_port = 0;
  {
    troupe::actor_system s2{two_threads()};
    troupe::node gone(s2, node_opts("gone"));
    closed_port = gone.port();
  }
  auto r = n.connect("127.0.0.1", closed_port, 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::errc::io_error);
  EXPECT_NE(r.message().find("cannot connect to 127.0.0.1:" + std::to_string(closed_port)), std::string::npos)
      << r.message();
  auto unresolvable = n.connect("no-such-host.invalid", 1, 10s);
  ASSERT_FALSE(unresolvable.ok());
  EXPECT_EQ(unresolvable.error(), troupe::errc::io_error);
  EXPECT_NE(unresolvable.message().find("cannot resolve no-such-host.invalid"), std::string::npos)
      << unresolvable.message();
}

TEST(NodeOptions, ANodeOfTheSameNameIsRefused) {
  troupe::actor_system sys{two_threads()};
  troupe::node a(sys, node_opts("twin"));
  troupe::actor_system sys2{two_threads()};
  troupe::node b(sys2, node_opts("twin"));
  auto r = a.connect("127.0.0.1", b.port(), 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::errc::refused);
  EXPECT_NE(r.message().find("own name 'twin'"), std::string::npos) << r.message();
  EXPECT_EQ(a.stats().auth_failures, 0u);
}

} // namespace
} // namespace transport_test

namespace transport_test {
namespace {

TEST(NodeMetrics, ANodeLogsItsCountersWhenAskedAndCountsFrames) {
  troupe::test::captured_log log;
  troupe::actor_system sys_a{two_threads()};
  troupe::actor_system sys_b{two_threads()};
  auto oa = node_opts("alpha");
  oa.metrics_log_interval = 5ms;
  troupe::node a(sys_a, oa);
  troupe::node b(sys_b, node_opts("beta"));
  b.publish("echo", sys_b.spawn<echo>());
  auto p = a.connect("127.0.0.1", b.port(), 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  auto e = p.value().lookup<echo>("echo", 10s);
  ASSERT_TRUE(e.ok()) << e.message();
  ASSERT_TRUE(e.value().ask(Count{}, 10s).get().ok());
  const auto st = a.stats();
  EXPECT_GE(st.frames_out, 4u) << "handshake, lookup, ask";
  EXPECT_GE(st.frames_in, 4u);
  EXPECT_EQ(st.reconnects, 0u);
  // One line, every counter of node_stats by its own name.
  EXPECT_TRUE(troupe::test::wait_until(
      [&] {
        return log.contains("troupe node alpha metrics: connections 1, connections_accepted 0, connections_dialed 1, "
                            "sessions_up 1, sessions_down 0, handshake_failures 0");
      },
      troupe::test::long_wait));
  for (const char* name : {"auth_failures", "handshake_timeouts", "bad_frames", "heartbeat_timeouts", "write_stalls",
                           "messages_out", "messages_in", "bytes_out", "bytes_in", "writes", "frames_out", "frames_in",
                           "reconnects", "transfers_out", "transfers_back"}) {
    EXPECT_TRUE(log.contains(std::string(", ") + name + " ")) << name;
  }
  troupe::node_options bad = node_opts("gamma");
  bad.metrics_log_interval = -1ms;
  EXPECT_THROW(troupe::node(sys_a, bad), std::invalid_argument);
}

} // namespace
} // namespace transport_test
