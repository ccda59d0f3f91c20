#pragma once
// Two real nodes in one process, alpha connected to beta's "echo" through a
// fault proxy (tests/support/fault_proxy.hpp), and a flood between them:
// what the fault tests share.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "support/fault_proxy.hpp"
#include "transport_fixture.hpp"

namespace transport_test {

/// alpha connected to beta's "echo" through a fault proxy.
struct proxied_pair {
  /// `framed`: the proxy splits the streams into frames (for the faults that act on one).
  proxied_pair(troupe::actor_system& sys_a, troupe::actor_system& sys_b, bool framed = false,
               troupe::node_options alpha = node_opts("alpha"), troupe::node_options beta = node_opts("beta"))
      : a(sys_a, std::move(alpha)), b(std::in_place, sys_b, std::move(beta)),
        echo_b(sys_b.spawn<transport_test::echo>()) {
    b->publish("echo", echo_b);
    proxy.emplace(b->port(), framed);
    auto p = a.connect("127.0.0.1", proxy->port(), 10s);
    if (!p.ok()) throw std::runtime_error("connect: " + std::string(p.message()));
    to_b = p.value();
    auto e = to_b->lookup<transport_test::echo>("echo", 10s);
    if (!e.ok()) throw std::runtime_error("lookup: " + std::string(e.message()));
    echo = e.value();
  }
  troupe::node a;
  std::optional<troupe::node> b;  // a test may end it (and start another beta)
  troupe::actor_ref<transport_test::echo> echo_b;  // beta's own handle
  std::optional<troupe::test::fault_proxy> proxy;
  std::optional<troupe::peer> to_b;
  troupe::actor_ref<transport_test::echo> echo;  // alpha's handle, through the proxy
};

/// Floods `count` pings to `to` from this thread; each tell must be accepted.
inline std::int64_t flood(const troupe::actor_ref<echo>& to, std::int64_t count, std::atomic<std::int64_t>& sent) {
  std::int64_t refused = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    troupe_test::Ping ping;
    ping.set_seq(i);
    if (!troupe::accepted(to.tell(ping))) ++refused;
    sent.store(i + 1, std::memory_order_relaxed);
  }
  return refused;
}

/// Waits until `to` has counted `count` pings (or `timeout`); its count.
inline troupe_test::Counted counted_by(const troupe::actor_ref<echo>& to, std::int64_t count, std::chrono::seconds timeout) {
  troupe_test::Counted last;
  troupe::test::wait_until(
      [&] {
        auto c = to.ask(troupe_test::Count{}, 10s).get();
        if (c.ok()) last = c.value();
        return c.ok() && c.value().n() >= count;
      },
      timeout);
  return last;
}

/// Floods `count` pings from alpha while the link is broken `cuts` times:
/// cut k by `cut(k)`, once the sender has passed `at(k)` and the cut before
/// has resumed (a cut of nothing proves nothing). Every tell must be
/// accepted; returns what beta counted once it has them all (or timed out).
template <class At, class Cut>
troupe_test::Counted flood_through_cuts(proxied_pair& n, std::int64_t count, int cuts, At at, Cut cut) {
  std::atomic<std::int64_t> sent{0};
  std::int64_t refused = -1;
  std::thread sender([&] { refused = flood(n.echo, count, sent); });
  for (int k = 0; k < cuts; ++k) {
    troupe::test::wait_until([&] { return sent.load() >= at(k); }, 60s);
    cut(k);
    if (!troupe::test::wait_until([&] { return n.a.stats().links_resumed >= std::uint64_t(k + 1); }, 30s)) {
      ADD_FAILURE() << "cut " << k << " did not resume";
      break;
    }
  }
  sender.join();
  EXPECT_EQ(refused, 0);
  return counted_by(n.echo, count, 120s);
}

} // namespace transport_test
