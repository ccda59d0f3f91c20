// Nodes in separate processes: order across the network, a peer killed with
// SIGKILL or frozen with SIGSTOP declared down within the timeout, and a
// restarted peer reached again as a new incarnation.
#include <fcntl.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "child_node.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

using troupe_test::Count;
using troupe_test::Ping;

class with_child : public ::testing::Test {
 protected:
  void SetUp() override { n = std::make_unique<troupe::node>(sys, node_opts("parent")); }
  void TearDown() override { n.reset(); }
  /// The child's echo actor, watched by a probe that reports to `in`.
  troupe::actor_ref<echo> watched_echo(const child_node& child, events& in) {
    auto p = n->connect("127.0.0.1", child.port(), 10s);
    EXPECT_TRUE(p.ok()) << p.message();
    if (!p.ok()) return {};
    auto e = p.value().lookup<echo>("echo", 10s);
    EXPECT_TRUE(e.ok()) << e.message();
    if (!e.ok()) return {};
    auto w = sys.spawn<probe>(in.ref());
    EXPECT_TRUE(w.ask(probe::watch{e.value()}, 10s).get().ok());
    return e.value();
  }
  troupe::actor_system sys{two_threads()};
  std::unique_ptr<troupe::node> n;
};

/// Resident set of process `pid` (0: this one), from /proc.
std::uint64_t rss_of(pid_t pid) {
  std::ifstream status(pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// Flow credit: a sender that is ~100x faster than its remote receiver is
// muted like a local one, so neither process buffers the backlog. 40,000
// messages of 2 KiB are 80 MiB: unbounded queues on either side would pass
// the 40 MiB bound; credit (8192 in flight) and the proxy queue (8192) keep
// each side near 17 MiB.
TEST_F(with_child, AFloodToAReceiver100xSlowerKeepsBothProcessesBoundedAndLosesNothing) {
  child_node child("child-slow");
  auto p = n->connect("127.0.0.1", child.port(), 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  auto slow = p.value().lookup<troupe_test::slow_sink>("slow", 10s);
  ASSERT_TRUE(slow.ok()) << slow.message();
  const std::uint64_t bound = std::uint64_t{40} << 20;
  const std::uint64_t base_self = rss_of(0), base_child = rss_of(child.pid());
  std::atomic<bool> sampling{true};
  std::uint64_t peak_self = base_self, peak_child = base_child;
  std::thread sampler([&] {
    while (sampling.load()) {
      peak_self = std::max(peak_self, rss_of(0));
      peak_child = std::max(peak_child, rss_of(child.pid()));
      std::this_thread::sleep_for(5ms);  // a sampling period, not synchronisation
    }
  });
  const std::int64_t count = 40000;
  const std::string note(2048, 'x');
  const auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < count; ++i) {
    Ping ping;
    ping.set_seq(i);
    ping.set_note(note);
    slow.value().tell(std::move(ping));  // blocks this thread while the receiver is behind
  }
  const auto sending = std::chrono::steady_clock::now() - t0;
  auto c = slow.value().ask(Count{}, 60s).get();
  sampling.store(false);
  sampler.join();
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c.value().n(), count);
  EXPECT_TRUE(c.value().in_order());
  // (A sanitizer's own memory, e.g. ASan's quarantine of freed blocks, would be measured too.)
  if (!troupe::test::sanitized) {
    EXPECT_LT(peak_self - base_self, bound) << "sender grew by " << ((peak_self - base_self) >> 20) << " MiB";
    EXPECT_LT(peak_child - base_child, bound) << "receiver grew by " << ((peak_child - base_child) >> 20) << " MiB";
  }
  RecordProperty("sender_growth_mib", std::to_string((peak_self - base_self) >> 20));
  RecordProperty("receiver_growth_mib", std::to_string((peak_child - base_child) >> 20));
  // The sender was held back: it could not finish much before the receiver.
  EXPECT_GT(sending, std::chrono::milliseconds(count * 50 / 1000) / 2);
}

TEST_F(with_child, MessagesToAChildProcessArriveInOrder) {
  child_node child("child-order");
  auto p = n->connect("127.0.0.1", child.port(), 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  auto e = p.value().lookup<echo>("echo", 10s);
  ASSERT_TRUE(e.ok()) << e.message();
  const std::int64_t count = troupe::test::scaled(50000, 5000);
  for (std::int64_t i = 0; i < count; ++i) {
    Ping ping;
    ping.set_seq(i);
    e.value().tell(ping);
  }
  auto c = e.value().ask(Count{}, 30s).get();
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c.value().n(), count);
  EXPECT_TRUE(c.value().in_order());
}

TEST_F(with_child, AKilledPeerIsDownWithinTheTimeoutForMonitorsAndAsks) {
  child_node child("child-kill");
  events in(sys);
  auto e = watched_echo(child, in);
  ASSERT_TRUE(e);
  ASSERT_TRUE(e.ask(Count{}, 10s).get().ok());
  const auto t0 = std::chrono::steady_clock::now();
  child.kill();
  const event ev = next(in, 10s);
  EXPECT_EQ(ev.kind, "down");
  EXPECT_EQ(ev.reason, troupe::exit_reason::node_down);
  // Its socket closes with it: the link is interrupted, the redial (at
  // once) is refused, and that is evidence enough.
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  auto r = e.ask(Count{}, 10s).get();
  EXPECT_EQ(r.error(), troupe::ask_error::node_down);
}

TEST_F(with_child, AFrozenPeerIsInterruptedByTheHeartbeatAndDownWhenNotBackWithinDownAfter) {
  child_node child("child-stop");
  events in(sys);
  ASSERT_TRUE(watched_echo(child, in));
  auto pending_before = n->stats().heartbeat_timeouts;
  const auto interrupted_before = n->stats().links_interrupted;
  const auto t0 = std::chrono::steady_clock::now();
  child.signal(SIGSTOP);  // the socket stays open: only silence tells
  const event ev = next(in, 10s);
  const auto took = std::chrono::steady_clock::now() - t0;
  child.signal(SIGCONT);
  EXPECT_EQ(ev.reason, troupe::exit_reason::node_down);
  // Interrupted after the 600 ms heartbeat timeout (minus one tick), down 1 s later.
  EXPECT_GE(took, 1500ms);
  EXPECT_LT(took, 4s);
  EXPECT_EQ(n->stats().heartbeat_timeouts, pending_before + 1);
  EXPECT_EQ(n->stats().links_interrupted, interrupted_before + 1);
}

TEST_F(with_child, ARestartedPeerIsANewIncarnationReachedByReconnecting) {
  std::uint16_t port = 0;
  troupe::actor_ref<echo> old_ref;
  std::uint64_t old_incarnation = 0;
  {
    child_node first("child-restart");
    port = first.port();
    auto p = n->connect("127.0.0.1", port, 10s);
    ASSERT_TRUE(p.ok()) << p.message();
    old_incarnation = p.value().incarnation();
    old_ref = p.value().lookup<echo>("echo", 10s).value();
    ASSERT_TRUE(old_ref.ask(Count{}, 10s).get().ok());
  }  // killed
  child_node second("child-restart", port);
  // The node dials the old address again by itself (backoff 50..400 ms).
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        auto s = n->find_peer("child-restart");
        return s && s->incarnation() != old_incarnation;
      },
      troupe::test::long_wait));
  auto fresh = n->find_peer("child-restart").value();
  // The old handle reports the old incarnation down; it does not reach the new process.
  EXPECT_EQ(old_ref.ask(Count{}, 10s).get().error(), troupe::ask_error::node_down);
  auto e = fresh.lookup<echo>("echo", 10s);
  ASSERT_TRUE(e.ok()) << e.message();
  auto c = e.value().ask(Count{}, 10s).get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value().n(), 0);  // a new process: nothing of the old one's traffic
}

} // namespace
} // namespace transport_test
