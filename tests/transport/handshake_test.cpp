// The handshake state machine, driven frame by frame without sockets.
#include <gtest/gtest.h>

#include "troupe/proto/troupe.pb.h"
#include "protocol/handshake.hpp"

namespace {
using namespace troupe::transport;
using st = handshake::status;

/// Delivers every frame in `wire` to `to`; returns its last status.
st deliver(std::string& wire, handshake& to, std::string& reply) {
  st last = to.state();
  framing_error err{};
  const auto used = split_frames(wire, default_max_frame_bytes, err, [&](const frame_view& f) {
    last = to.on_frame(f, reply);
    return true;
  });
  wire.erase(0, used);
  return last;
}

/// Starts both sides and hands the connector's HELLO and AUTH to the
/// acceptor: its state after them. `a_auth` gets the acceptor's AUTH.
st authenticate(handshake& c, handshake& a, std::string& a_auth) {
  std::string c_out, a_out;
  c.start(c_out);
  a.start(a_out);
  deliver(a_out, c, c_out);  // the acceptor's HELLO: the connector answers with AUTH
  return deliver(c_out, a, a_auth);
}

/// The first frame of `frames` (a `kind` whose body is an M) with
/// `change(M&)` applied, whole again: what somebody between would send.
template <class M, class F>
std::string rewritten(const std::string& frames, frame_kind kind, F change) {
  M m;
  framing_error err{};
  split_frames(frames, default_max_frame_bytes, err, [&](const frame_view& f) {
    EXPECT_TRUE(m.ParseFromArray(f.body.data(), static_cast<int>(f.body.size())));
    return false;
  });
  change(m);
  std::string out;
  append_frame(out, kind, m);
  return out;
}

struct pair_run {
  handshake c;
  handshake a;
  std::string c_out;  // what the connector sent
  std::string a_out;  // what the acceptor sent
  void run() {
    c.start(c_out);
    a.start(a_out);
    for (int round = 0; round < 4; ++round) {
      std::string to_a;
      to_a.swap(c_out);
      if (deliver(to_a, a, a_out) == st::authenticated) a.welcome(a_out);
      std::string to_c;
      to_c.swap(a_out);
      deliver(to_c, c, c_out);
    }
  }
};

TEST(Handshake, SameCookieEstablishesBothSides) {
  pair_run p{handshake(handshake::role::connector, "c", 1, "secret", 1 << 20),
             handshake(handshake::role::acceptor, "a", 2, "secret", 1 << 20), {}, {}};
  p.run();
  EXPECT_EQ(p.c.state(), st::established);
  EXPECT_EQ(p.a.state(), st::established);
  EXPECT_EQ(p.c.peer_name(), "a");
  EXPECT_EQ(p.a.peer_name(), "c");
  EXPECT_EQ(p.a.peer_incarnation(), 1u);
}

TEST(Handshake, TheAcceptorLearnsWhetherTheConnectorHoldsALinkWithIt) {
  for (const bool holds : {false, true}) {
    std::string asked_name;
    std::uint64_t asked_incarnation = 0;
    auto query = [&](const std::string& name, std::uint64_t incarnation) {
      asked_name = name;
      asked_incarnation = incarnation;
      return handshake::link_state{holds};
    };
    pair_run p{handshake(handshake::role::connector, "c", 1, "secret", 1 << 20, query),
               handshake(handshake::role::acceptor, "a", 2, "secret", 1 << 20), {}, {}};
    p.run();
    ASSERT_EQ(p.a.state(), st::established);
    EXPECT_EQ(asked_name, "a");
    EXPECT_EQ(asked_incarnation, 2u);
    EXPECT_EQ(p.c.holds_link(), holds);
    EXPECT_EQ(p.a.peer_holds_link(), holds);
  }
}

TEST(Handshake, AConnectorResumesTheSessionItOffersAndBothLearnHowFarTheOtherGot) {
  auto query = [](const std::string&, std::uint64_t) { return handshake::link_state{false, 42, 7}; };
  handshake c(handshake::role::connector, "c", 1, "secret", 1 << 20, query);
  handshake a(handshake::role::acceptor, "a", 2, "secret", 1 << 20);
  std::string reply;
  ASSERT_EQ(authenticate(c, a, reply), st::authenticated);
  EXPECT_EQ(a.peer_session(), 42u);
  EXPECT_EQ(a.peer_delivered(), 7u);
  std::string welcome;
  a.welcome_back(welcome, 9);
  EXPECT_EQ(a.state(), st::established);
  EXPECT_EQ(a.session(), 42u);
  std::string none;
  std::string to_c = reply + welcome;  // its AUTH, then the WELCOME
  ASSERT_EQ(deliver(to_c, c, none), st::established);
  EXPECT_TRUE(c.resumed());
  EXPECT_EQ(c.session(), 42u);
  EXPECT_EQ(c.peer_delivered(), 9u);
}

TEST(Handshake, ANewSessionGetsAFreshIdAndAWelcomeResumingWhatWasNotOfferedFails) {
  pair_run p{handshake(handshake::role::connector, "c", 1, "secret", 1 << 20),
             handshake(handshake::role::acceptor, "a", 2, "secret", 1 << 20), {}, {}};
  p.run();
  ASSERT_EQ(p.c.state(), st::established);
  EXPECT_NE(p.a.session(), 0u);
  EXPECT_EQ(p.c.session(), p.a.session());
  EXPECT_FALSE(p.c.resumed());

  // An acceptor (or somebody between) claiming to resume a session the connector never offered.
  handshake c(handshake::role::connector, "c", 1, "secret", 1 << 20);
  handshake a(handshake::role::acceptor, "a", 2, "secret", 1 << 20);
  std::string reply;
  ASSERT_EQ(authenticate(c, a, reply), st::authenticated);
  troupe::wire::Welcome w;
  w.set_session(77);
  w.set_resumed(true);
  std::string forged;
  append_frame(forged, frame_kind::welcome, w);
  std::string none;
  std::string to_c = reply + forged;
  EXPECT_EQ(deliver(to_c, c, none), st::failed);
}

TEST(Handshake, AFlippedHoldsLinkFlagFailsTheProof) {
  // Somebody without the cookie flips the connector's flag (to have the
  // acceptor drop a live connection, or refuse a redial): the proof covers it.
  handshake c(handshake::role::connector, "c", 1, "secret", 1 << 20);
  handshake a(handshake::role::acceptor, "a", 2, "secret", 1 << 20);
  std::string c_out, a_out;
  c.start(c_out);
  a.start(a_out);
  std::string c_auth;
  deliver(a_out, c, c_auth);  // the acceptor's HELLO: the connector answers with AUTH
  const std::string tampered = rewritten<troupe::wire::Auth>(c_auth, frame_kind::auth, [](auto& auth) {
    EXPECT_FALSE(auth.holds_link());
    auth.set_holds_link(true);
  });
  std::string reply;
  std::string wire = c_out + tampered;  // its HELLO, then the flipped AUTH
  EXPECT_EQ(deliver(wire, a, reply), st::failed);
  EXPECT_TRUE(a.auth_failure());
}

TEST(Handshake, EachSideLearnsWhereTheOtherListens) {
  pair_run p{handshake(handshake::role::connector, "c", 1, "secret", 1 << 20),
             handshake(handshake::role::acceptor, "a", 2, "secret", 1 << 20), {}, {}};
  p.c.advertise("0.0.0.0", 4242);
  p.run();
  ASSERT_EQ(p.a.state(), st::established);
  EXPECT_EQ(p.a.peer_listen_host(), "0.0.0.0");
  EXPECT_EQ(p.a.peer_listen_port(), 4242);
  EXPECT_EQ(p.c.peer_listen_port(), 0) << "the acceptor advertised nothing: it listens nowhere";
}

TEST(Handshake, AListenAddressChangedOnTheWayFailsTheProof) {
  // Somebody without the cookie points the acceptor's probe at a closed
  // port (to have a live peer declared gone): the proof covers the address.
  handshake c(handshake::role::connector, "c", 1, "secret", 1 << 20);
  handshake a(handshake::role::acceptor, "a", 2, "secret", 1 << 20);
  c.advertise("127.0.0.1", 4242);
  std::string c_out, a_out;
  c.start(c_out);
  a.start(a_out);
  std::string c_auth;
  deliver(a_out, c, c_auth);
  const std::string tampered =
      rewritten<troupe::wire::Hello>(c_out, frame_kind::hello, [](auto& hello) { hello.set_listen_port(1); });
  std::string reply;
  std::string wire = tampered + c_auth;
  EXPECT_EQ(deliver(wire, a, reply), st::failed);
  EXPECT_TRUE(a.auth_failure());
}

TEST(Handshake, AListenPortOutOfRangeIsRefused) {
  handshake c(handshake::role::connector, "c", 1, "secret", 1 << 20);
  std::string ours;
  c.start(ours);
  std::string frame = rewritten<troupe::wire::Hello>(ours, frame_kind::hello, [](auto& h) {
    h.set_node_name("x");
    h.set_listen_port(70000);
  });
  std::string reply;
  EXPECT_EQ(deliver(frame, c, reply), st::failed);
  EXPECT_NE(c.reason().find("listen address"), std::string::npos) << c.reason();
}

TEST(Handshake, WrongCookieFailsBothSidesAsAnAuthFailure) {
  pair_run p{handshake(handshake::role::connector, "c", 1, "secret", 1 << 20),
             handshake(handshake::role::acceptor, "a", 2, "other", 1 << 20), {}, {}};
  p.run();
  EXPECT_EQ(p.a.state(), st::failed);
  EXPECT_EQ(p.c.state(), st::failed);
  EXPECT_TRUE(p.a.auth_failure());
  EXPECT_TRUE(p.c.auth_failure());
  EXPECT_NE(p.a.reason().find("authentication failed"), std::string::npos);
}

/// Our own HELLO, as an attacker without the cookie would replay it, under `name`.
std::string replayed_hello(const std::string& our_hello_frames, const std::string& name) {
  // Our own challenge, back at us.
  return rewritten<troupe::wire::Hello>(our_hello_frames, frame_kind::hello, [&](auto& h) {
    h.set_node_name(name);
    h.set_incarnation(9);
  });
}

TEST(Handshake, AReflectedProofIsRejected) {
  // An attacker without the cookie echoes our HELLO and then our own AUTH:
  // the role and the names in the proof make it wrong.
  handshake c(handshake::role::connector, "c", 1, "secret", 1 << 20);
  std::string out;
  c.start(out);
  std::string hello = replayed_hello(out, "x");
  std::string our_auth;
  deliver(hello, c, our_auth);
  std::string ignored;
  EXPECT_EQ(deliver(our_auth, c, ignored), st::failed);
  EXPECT_TRUE(c.auth_failure());
}

TEST(Handshake, APeerWithThisNodesOwnNameIsRefused) {
  handshake c(handshake::role::connector, "c", 1, "secret", 1 << 20);
  std::string out;
  c.start(out);
  std::string hello = replayed_hello(out, "c");
  std::string reply;
  EXPECT_EQ(deliver(hello, c, reply), st::failed);
  EXPECT_NE(c.reason().find("own name"), std::string::npos) << c.reason();
}

TEST(Handshake, VersionMismatchAndEarlyFramesFailWithAReason) {
  handshake a(handshake::role::acceptor, "a", 2, "secret", 1 << 20);
  troupe::wire::Hello h;
  h.set_magic("troupe");
  h.set_version(protocol_version + 1);
  h.set_node_name("c");
  h.set_incarnation(1);
  h.set_challenge(std::string(32, 'x'));
  std::string wire, out;
  append_frame(wire, frame_kind::hello, h);
  EXPECT_EQ(deliver(wire, a, out), st::failed);
  EXPECT_NE(a.reason().find("incompatible protocol version"), std::string::npos) << a.reason();

  handshake b(handshake::role::acceptor, "a", 2, "secret", 1 << 20);
  append_frame(wire, frame_kind::message, std::string("x"));
  EXPECT_EQ(deliver(wire, b, out), st::failed);
  EXPECT_NE(b.reason().find("before the handshake ended"), std::string::npos) << b.reason();

  handshake g(handshake::role::acceptor, "a", 2, "secret", 1 << 20);
  append_frame(wire, frame_kind::hello, std::string("\xff\xff garbage", 10));
  EXPECT_EQ(deliver(wire, g, out), st::failed);
}

} // namespace
