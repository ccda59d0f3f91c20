#pragma once
// Two nodes in one process, each with its own actor system, talking over
// real loopback TCP; and the probe actors the transport tests use.

#include <gtest/gtest.h>

#include <charconv>
#include <memory>
#include <set>
#include <string>

#include "support/test_nodes.hpp"
#include "support/test_support.hpp"
#include "test_actors.hpp"
#include "troupe/troupe.hpp"

namespace transport_test {

using namespace std::chrono_literals;
using troupe_test::echo;

inline constexpr const char* test_cookie = "transport-test-cookie";

/// Options for a test node: loopback, ephemeral port, the test cookie, and
/// heartbeats fast enough for failure tests to end quickly.
inline troupe::node_options node_opts(std::string name) {
  troupe::node_options o = troupe::test::quick_node_options(std::move(name), test_cookie);
  o.down_after = 1s;  // an interrupted link without evidence of its peer's end
  o.handshake_timeout = 2s;
  return o;
}

inline troupe::system_config two_threads() {
  troupe::system_config c;
  c.threads = 2;
  return c;
}

/// What a probe saw, reported to the test thread.
struct event {
  std::string kind;  // "down", "exit"
  troupe::exit_reason reason = troupe::exit_reason::normal;
  std::string what;
};
using events = troupe::inbox<event>;
using events_ref = troupe::actor_ref<events::actor_type>;

inline event next(events& in, std::chrono::milliseconds within = 20s) {
  auto e = in.receive(within);
  if (!e) {
    ADD_FAILURE() << "no event within " << within.count() << " ms";
    return event{"timeout", troupe::exit_reason::normal, ""};
  }
  return *e;
}

/// The next `n` events, each for a node_down; their kinds ("down", "exit").
inline std::multiset<std::string> node_down_kinds(events& in, int n) {
  std::multiset<std::string> kinds;
  for (int i = 0; i < n; ++i) {
    const event ev = next(in);
    EXPECT_EQ(ev.reason, troupe::exit_reason::node_down) << ev.kind;
    kinds.insert(ev.kind);
  }
  return kinds;
}

/// Monitors or links (trapping exits) whatever it is told to, and reports.
struct probe : troupe::actor<probe> {
  explicit probe(events_ref out) : out_(std::move(out)) {}
  struct watch {
    troupe::any_ref who;
  };
  struct link_to {
    troupe::any_ref who;
  };
  std::uint64_t on(watch w) { return monitor(w.who); }
  bool on(link_to l) {
    link(l.who);
    return true;
  }
  void on(troupe::down d) { out_.tell(event{"down", d.reason, d.what}); }
  void on(troupe::exit_msg x) { out_.tell(event{"exit", x.reason, x.what}); }
  events_ref out_;
};

/// Keeps the promise of every ask it gets, so the asks stay pending.
struct holder : troupe::actor<holder> {
  using remote_interface = troupe::accepts<troupe_test::Ping>;
  troupe::promise<troupe_test::Pong> on(troupe_test::Ping) {
    held.push_back(troupe::make_promise<troupe_test::Pong>());
    return {};  // the held promise answers (never, or actor_stopped when dropped)
  }
  std::vector<troupe::promise<troupe_test::Pong>> held;
};

/// Not protobuf: crosses the network through its codec.
/// Looks up the peer's "echo" and checks that it adds 1 + 2 (a session that
/// still serves).
inline void expect_echo_adds(const troupe::peer& p) {
  auto r = p.lookup<echo>("echo", 10s);
  ASSERT_TRUE(r.ok()) << r.message();
  troupe_test::Add add;
  add.set_a(1);
  add.set_b(2);
  auto s = r.value().ask(add, 10s).get();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.value().value(), 3);
}

struct money {
  std::int64_t cents = 0;
  std::string currency;
};
} // namespace transport_test

template <>
struct troupe::codec<transport_test::money> {
  static constexpr std::string_view name = "transport_test.money";
  static void encode(const transport_test::money& m, std::string& out) {
    out += std::to_string(m.cents);
    out += ' ';
    out += m.currency;
  }
  static bool decode(std::string_view in, transport_test::money& m) {
    const auto sp = in.find(' ');
    if (sp == std::string_view::npos || sp == 0) return false;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(in.data(), in.data() + sp, v);
    if (ec != std::errc() || p != in.data() + sp) return false;
    m.cents = v;
    m.currency = std::string(in.substr(sp + 1));
    return true;
  }
};

namespace transport_test {

struct bank : troupe::actor<bank> {
  using remote_interface = troupe::accepts<money>;
  money on(money m) {
    total += m.cents;
    return money{total, m.currency};
  }
  std::int64_t total = 0;
};

class two_nodes : public ::testing::Test {
 protected:
  void SetUp() override {
    a = std::make_unique<troupe::node>(sys_a, node_opts("alpha"));
    b = std::make_unique<troupe::node>(sys_b, node_opts("beta"));
  }
  void TearDown() override {
    a.reset();
    b.reset();
  }
  /// alpha's session with beta.
  troupe::peer connect_a_to_b() {
    auto p = a->connect("127.0.0.1", b->port(), 10s);
    EXPECT_TRUE(p.ok()) << p.message();
    return p.ok() ? p.value() : troupe::peer();
  }

  troupe::actor_system sys_a{two_threads()};
  troupe::actor_system sys_b{two_threads()};
  std::unique_ptr<troupe::node> a;
  std::unique_ptr<troupe::node> b;
};

} // namespace transport_test
