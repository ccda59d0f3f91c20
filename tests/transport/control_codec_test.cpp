// The control-frame codec alone: every frame a builder makes is read back
// whole by its parser, reasons are cut to their bound, and bodies that are
// not what they claim are refused.
#include <gtest/gtest.h>

#include <string>

#include "protocol/control_codec.hpp"
#include "troupe/proto/troupe.pb.h"

namespace transport_test {
namespace {

namespace control = troupe::transport::control;
using troupe::transport::frame_kind;
using troupe::transport::frame_view;
using troupe::transport::framing_error;

/// The one frame `out` holds: its kind and body.
frame_view only_frame(const std::string& out) {
  framing_error err{};
  frame_view got{0, {}};
  int n = 0;
  const std::size_t used = troupe::transport::split_frames(out, 1u << 24, err, [&](const frame_view& f) {
    got = f;
    ++n;
    return true;
  });
  EXPECT_EQ(err, framing_error::none);
  EXPECT_EQ(used, out.size());
  EXPECT_EQ(n, 1);
  return got;
}

TEST(ControlCodec, StopMonitorAndLinkFramesReadBackWhole) {
  std::string out;
  control::append_stop(out, {11, troupe::exit_reason::killed});
  auto f = only_frame(out);
  EXPECT_EQ(f.kind, std::uint8_t(frame_kind::stop));
  control::stop s;
  ASSERT_TRUE(control::parse_stop(f.body, s));
  EXPECT_EQ(s.target, 11u);
  EXPECT_EQ(s.why, troupe::exit_reason::killed);

  for (bool de : {false, true}) {
    out.clear();
    (de ? control::append_demonitor : control::append_monitor)(out, {~std::uint64_t{0}, 77});
    f = only_frame(out);
    EXPECT_EQ(f.kind, std::uint8_t(de ? frame_kind::demonitor : frame_kind::monitor));
    control::monitor m;
    ASSERT_TRUE(control::parse_monitor(f.body, m));
    EXPECT_EQ(m.target, ~std::uint64_t{0});
    EXPECT_EQ(m.ref, 77u);

    out.clear();
    (de ? control::append_unlink : control::append_link)(out, {5, 6});
    f = only_frame(out);
    EXPECT_EQ(f.kind, std::uint8_t(de ? frame_kind::unlink : frame_kind::link));
    control::link l;
    ASSERT_TRUE(control::parse_link(f.body, l));
    EXPECT_EQ(l.target, 5u);
    EXPECT_EQ(l.from, 6u);
  }
}

TEST(ControlCodec, ExitAndDownCarryTheirReasonCutToItsBound) {
  const std::string long_what(control::max_what_bytes + 100, 'w');
  std::string out;
  control::append_exit(out, {1, 2, troupe::exit_reason::exception, long_what});
  control::exit x;
  ASSERT_TRUE(control::parse_exit(only_frame(out).body, x));
  EXPECT_EQ(x.target, 1u);
  EXPECT_EQ(x.from, 2u);
  EXPECT_EQ(x.why, troupe::exit_reason::exception);
  EXPECT_EQ(x.what.size(), control::max_what_bytes);

  out.clear();
  control::append_down(out, {3, 4, troupe::exit_reason::node_down, "gone"});
  control::down d;
  ASSERT_TRUE(control::parse_down(only_frame(out).body, d));
  EXPECT_EQ(d.actor, 3u);
  EXPECT_EQ(d.ref, 4u);
  EXPECT_EQ(d.why, troupe::exit_reason::node_down);
  EXPECT_EQ(d.what, "gone");
}

TEST(ControlCodec, EveryExitReasonAndAskErrorCrosses) {
  using troupe::exit_reason;
  for (exit_reason r : {exit_reason::normal, exit_reason::stopped, exit_reason::exception, exit_reason::killed,
                        exit_reason::node_down}) {
    std::string out;
    control::append_down(out, {1, 1, r, {}});
    control::down d;
    ASSERT_TRUE(control::parse_down(only_frame(out).body, d));
    EXPECT_EQ(d.why, r);
  }
  using troupe::ask_error;
  for (ask_error e : {ask_error::timeout, ask_error::actor_stopped, ask_error::exception, ask_error::mailbox_full,
                      ask_error::node_down}) {
    std::string out;
    control::append_reply_error(out, 9, e, "why");
    control::reply r;
    ASSERT_TRUE(control::parse_reply(only_frame(out).body, r));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, e);
    EXPECT_EQ(r.message, "why");
  }
}

TEST(ControlCodec, RepliesLookupsCreditReturnsAndGoodbyes) {
  std::string out;
  control::append_reply(out, 8, std::string("\0payload", 8));
  control::reply r;
  ASSERT_TRUE(control::parse_reply(only_frame(out).body, r));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.request, 8u);
  EXPECT_EQ(r.payload, std::string("\0payload", 8));

  out.clear();
  control::append_lookup(out, {3, "lobby"});
  control::lookup l;
  ASSERT_TRUE(control::parse_lookup(only_frame(out).body, l));
  EXPECT_EQ(l.request, 3u);
  EXPECT_EQ(l.name, "lobby");

  out.clear();
  control::append_lookup_reply(out, {3, true, 99, "N4chat5lobbyE", {"chat.Join", "chat.Say"}});
  control::lookup_reply lr;
  ASSERT_TRUE(control::parse_lookup_reply(only_frame(out).body, lr));
  EXPECT_TRUE(lr.found);
  EXPECT_EQ(lr.actor, 99u);
  EXPECT_EQ(lr.actor_type, "N4chat5lobbyE");
  EXPECT_EQ(lr.accepts, (std::vector<std::string>{"chat.Join", "chat.Say"}));
  out.clear();
  control::append_lookup_reply(out, {4});
  ASSERT_TRUE(control::parse_lookup_reply(only_frame(out).body, lr));
  EXPECT_FALSE(lr.found);

  out.clear();
  control::append_credit(out, {12, 4096});
  control::credit c;
  ASSERT_TRUE(control::parse_credit(only_frame(out).body, c));
  EXPECT_EQ(c.target, 12u);
  EXPECT_EQ(c.units, 4096u);

  out.clear();
  control::append_return(out, 0x0102030405060708);
  std::uint64_t loan = 0;
  ASSERT_TRUE(control::parse_return(only_frame(out).body, loan));
  EXPECT_EQ(loan, 0x0102030405060708u);

  out.clear();
  control::append_goodbye(out, "bye");
  EXPECT_EQ(control::parse_goodbye(only_frame(out).body), "bye");
}

TEST(ControlCodec, ATransferPayloadIsSixteenBytesExactly) {
  std::string p;
  control::put_transfer(p, {1u << 20, 5});
  ASSERT_EQ(p.size(), control::transfer_payload_bytes);
  control::transfer t;
  ASSERT_TRUE(control::parse_transfer(p, t));
  EXPECT_EQ(t.size, 1u << 20);
  EXPECT_EQ(t.loan, 5u);
  EXPECT_FALSE(control::parse_transfer(p + "x", t));
  EXPECT_FALSE(control::parse_transfer(p.substr(1), t));
}

TEST(ControlCodec, MalformedBodiesAreRefused) {
  const std::string garbage("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);  // a varint that never ends
  control::stop s;
  control::monitor m;
  control::link l;
  control::exit x;
  control::down d;
  control::reply r;
  control::lookup lk;
  control::lookup_reply lr;
  control::credit c;
  std::uint64_t loan = 0;
  EXPECT_FALSE(control::parse_stop(garbage, s));
  EXPECT_FALSE(control::parse_monitor(garbage, m));
  EXPECT_FALSE(control::parse_link(garbage, l));
  EXPECT_FALSE(control::parse_exit(garbage, x));
  EXPECT_FALSE(control::parse_down(garbage, d));
  EXPECT_FALSE(control::parse_reply(garbage, r));
  EXPECT_FALSE(control::parse_lookup(garbage, lk));
  EXPECT_FALSE(control::parse_lookup_reply(garbage, lr));
  EXPECT_FALSE(control::parse_credit(garbage, c));
  EXPECT_FALSE(control::parse_return("1234567", loan)) << "seven bytes are no loan id";
  EXPECT_EQ(control::parse_goodbye(garbage), "(unreadable)");
}

TEST(ControlCodec, KindNamesForLogs) {
  EXPECT_EQ(control::kind_name(std::uint8_t(frame_kind::flow_credit)), "FLOW_CREDIT");
  EXPECT_EQ(control::kind_name(std::uint8_t(frame_kind::message)), "MESSAGE");
  EXPECT_EQ(control::kind_name(77), "kind 77");
  EXPECT_EQ(control::kind_name(0), "kind 0");
}

} // namespace
} // namespace transport_test
