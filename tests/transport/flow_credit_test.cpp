// Flow credit alone, with no connection: the receiving side's accounts (one
// atomic operation per handled message, a grant every credit_step, freed
// with the last reference) and the sending side's windows (one per remote
// actor, kept across the proxies that come and go for it).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "link/flow_credit.hpp"
#include "protocol/control_codec.hpp"
#include "support/proxy_turns.hpp"
#include "support/test_support.hpp"

namespace transport_test {
namespace {

using troupe::transport::credit_cost;
using troupe::transport::credit_limit;
using troupe::transport::credit_step;
using troupe::transport::credit_unit_bytes;
using troupe::transport::frame_poster;
using troupe::transport::initial_credit;
using troupe::transport::receive_account;
namespace control = troupe::transport::control;

/// Takes the FLOW_CREDIT frames an account posts and adds up what they grant.
struct granted_frames final : frame_poster {
  bool post_frame(std::string frame) override {
    std::lock_guard lock(mx);
    const auto kind = static_cast<std::uint8_t>(frame[4]);
    EXPECT_EQ(kind, static_cast<std::uint8_t>(troupe::transport::frame_kind::flow_credit));
    control::credit c;
    EXPECT_TRUE(control::parse_credit(std::string_view(frame).substr(5 + troupe::transport::seq_bytes), c));
    targets.push_back(c.target);
    total += static_cast<std::int64_t>(c.units);
    return true;
  }
  std::int64_t granted() {
    std::lock_guard lock(mx);
    return total;
  }
  std::mutex mx;
  std::vector<std::uint64_t> targets;
  std::int64_t total = 0;
};

struct account_fixture : ::testing::Test {
  std::shared_ptr<granted_frames> to = std::make_shared<granted_frames>();
  receive_account* make(std::uint64_t target = 7) { return new receive_account(to, target); }  // the owner's reference
};

TEST_F(account_fixture, GrantsEveryStepForItsActorAndIsFreedWithTheLastReference) {
  auto* a = make(42);
  const auto n = static_cast<std::uint32_t>(2 * credit_step + 7);
  a->retain(n);  // one per queued message, as a reader takes them per chain
  for (std::uint32_t i = 0; i + 1 < n; ++i) a->consumed_and_release(1);
  EXPECT_EQ(to->granted(), 2 * credit_step) << "a grant per credit_step handled, none for the 7 left over";
  EXPECT_EQ(to->targets, (std::vector<std::uint64_t>{42, 42})) << "each grant names the account's actor";
  a->consumed(1);  // a dropped message counted without its own reference
  a->consumed_and_release(1);
  a->release();  // the owner's: frees it (LeakSanitizer sees a leak otherwise)
  EXPECT_EQ(to->granted(), 2 * credit_step);
}

TEST_F(account_fixture, LargeMessagesCostMoreAndAStepGrantsWhatGathered) {
  EXPECT_EQ(credit_cost(0), 1);
  EXPECT_EQ(credit_cost(credit_unit_bytes - 1), 1);
  EXPECT_EQ(credit_cost(2048), 5) << "a 2 KiB message costs five small ones";
  auto* a = make();
  const std::int64_t big = credit_cost(3 * credit_step * credit_unit_bytes);  // over a whole step
  a->retain(3);
  a->consumed_and_release(7);
  EXPECT_EQ(to->granted(), 0);
  a->consumed_and_release(big);
  EXPECT_EQ(to->granted(), 7 + big) << "the step grants everything gathered, not just credit_step";
  a->consumed_and_release(1);
  EXPECT_EQ(to->granted(), 7 + big);
  a->release();
}

TEST_F(account_fixture, AWireEnvelopeDoneCountsItsPayloadsCost) {
  auto* a = make();
  a->retain(2);
  a->done(static_cast<std::uint32_t>(credit_step * credit_unit_bytes));  // costs credit_step + 1
  EXPECT_EQ(to->granted(), credit_step + 1);
  a->done(0);
  a->release();
  EXPECT_EQ(to->granted(), credit_step + 1);
}

TEST_F(account_fixture, ConcurrentConsumersGrantExactlyOnce) {
  // Messages of one account handled on several threads (an actor moving
  // between workers, dead letters): every step granted once, freed once.
  constexpr int threads = 4;
  const int per_thread = static_cast<int>(troupe::test::scaled(5 * credit_step + 3, credit_step + 3));
  auto* a = make();
  a->retain(static_cast<std::uint32_t>(threads * per_thread));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) a->consumed_and_release(1);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(to->granted(), (threads * per_thread) / credit_step * credit_step);
  a->release();
}

TEST_F(account_fixture, AGrantToAConnectionThatIsGoneIsDropped) {
  auto* a = make();
  to.reset();  // the connection ended before its actor handled the messages
  a->retain(static_cast<std::uint32_t>(credit_step));
  for (std::int64_t i = 0; i < credit_step; ++i) a->consumed_and_release(1);  // no crash, nothing posted
  a->release();
}

TEST_F(account_fixture, AnIdleAccountReturnsWhatGatheredBelowAStep) {
  // A sender that sent a few messages and then stopped sending must get its
  // window back in full, or it could never forget it.
  auto* a = make();
  a->retain(2);
  a->consumed_and_release(3);
  a->return_leftover();
  EXPECT_EQ(to->granted(), 0) << "a message is still queued: it may complete a step itself";
  a->consumed_and_release(4);
  EXPECT_EQ(to->granted(), 0) << "below a step nothing is granted per message";
  a->return_leftover();
  EXPECT_EQ(to->granted(), 7) << "idle: what gathered goes back";
  a->return_leftover();
  EXPECT_EQ(to->granted(), 7) << "once";
  a->release();
}

TEST_F(account_fixture, ChargeRefusesWhatWouldExceedTheLimitAndCountsNothingThen) {
  auto* a = make();
  const std::int64_t limit = credit_limit(troupe::transport::default_max_frame_bytes);
  EXPECT_EQ(limit, initial_credit + credit_cost(troupe::transport::default_max_frame_bytes))
      << "the window plus the one message started while credit was left: no extra step";
  EXPECT_TRUE(a->charge(limit - 1, limit));
  EXPECT_TRUE(a->charge(1, limit));
  EXPECT_FALSE(a->charge(1, limit)) << "one unit past the limit";
  // Granting back makes room again: the peer may send what it was given.
  a->retain(1);
  a->consumed_and_release(credit_step);
  EXPECT_TRUE(a->charge(credit_step, limit));
  EXPECT_FALSE(a->charge(1, limit));
  a->release();
}

// -- the sending side: one window per remote actor ------------------------------------

using troupe::transport::send_windows;

TEST(SendWindows, AWindowOutlivesItsProxyUntilItsCreditIsBack) {
  send_windows windows;
  send_windows::window& w = windows.open(5);
  EXPECT_EQ(w.units.load(), initial_credit);
  w.units.fetch_sub(initial_credit);  // a proxy spent it all, then went
  windows.close(5);
  ASSERT_EQ(windows.size(), 1u) << "what was spent is still out";
  send_windows::window& again = windows.open(5);  // a proxy made afresh for the same actor
  EXPECT_EQ(&again, &w);
  EXPECT_EQ(again.units.load(), 0) << "no second window: the receiver would cut the connection";
  windows.grant(5, initial_credit);
  windows.close(5);
  EXPECT_EQ(windows.size(), 0u) << "full and without a proxy: forgotten";
  windows.grant(5, 10);  // a grant for a window that is gone changes nothing
  EXPECT_EQ(windows.size(), 0u);
}

TEST(SendWindows, AGrantNeverGrowsAWindowPastTheInitialCredit) {
  send_windows windows;
  send_windows::window& w = windows.open(1);
  w.units.fetch_sub(100);
  windows.grant(1, 1'000'000);  // a peer granting what was not spent gains nothing
  EXPECT_EQ(w.units.load(), initial_credit);
  windows.close(1);
}

TEST(SendWindows, ProxiesOpenAndCloseTheirWindowIndependently) {
  // An old proxy may be freed after a new one for the same actor was made.
  send_windows windows;
  windows.open(3).units.fetch_sub(1);
  windows.open(3);
  windows.close(3);  // the old one goes
  ASSERT_NE(windows.find(3), nullptr) << "the new one still spends it";
  windows.grant(3, 1);
  EXPECT_NE(windows.find(3), nullptr) << "full, but a proxy is open";
  windows.close(3);
  EXPECT_EQ(windows.find(3), nullptr);
}

/// A link that spends a window per message and parks on it, as the outbound path does.
struct credit_link final : troupe::detail::proxy_link {
  explicit credit_link(send_windows& w) : windows(w) {}
  void begin_turn(troupe::detail::remote_proxy& p) override { window = windows.find(p.remote_id()); }
  bool ready(troupe::detail::remote_proxy&) noexcept override { return window->units.load() - spent > 0; }
  void forward(troupe::detail::remote_proxy&, troupe::detail::envelope* e) override {
    ++spent;
    ++forwarded;
    e->ops->destroy(e);
  }
  void end_turn(troupe::detail::remote_proxy&) noexcept override { window->units.fetch_sub(std::exchange(spent, 0)); }
  bool park(troupe::detail::remote_proxy& p) override { return windows.park(*windows.find(p.remote_id()), p); }
  void signal(troupe::detail::remote_proxy&, const troupe::detail::control_signal&) override {}
  void forget(troupe::detail::remote_proxy&) noexcept override {}
  send_windows& windows;
  send_windows::window* window = nullptr;
  std::int64_t spent = 0;
  int forwarded = 0;
};

/// A message of this test only (a codec for a type other tests use, such as
/// std::int64_t, would give one type two meanings in one program).
struct credit_ping {
  std::int64_t n = 0;
};

struct ping_api : troupe::interface {
  void on(credit_ping);
};

} // namespace
} // namespace transport_test

template <>
struct troupe::codec<transport_test::credit_ping> {
  static constexpr std::string_view name = "transport_test.credit_ping";
  static void encode(const transport_test::credit_ping& p, std::string& out) {
    out.append(reinterpret_cast<const char*>(&p.n), sizeof p.n);
  }
  static bool decode(std::string_view in, transport_test::credit_ping& p) {
    if (in.size() != sizeof p.n) return false;
    std::memcpy(&p.n, in.data(), sizeof p.n);
    return true;
  }
};

namespace transport_test {
namespace {

TEST(SendWindows, AProxyOutOfCreditParksOnItsWindowAndAGrantWakesIt) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  send_windows windows;
  windows.open(7).units.store(2);
  auto link = std::make_shared<credit_link>(windows);
  auto [turns, cell] = troupe::test::proxy_turns::make<ping_api>(sys, link, 7);
  auto to = troupe::actor_ref<ping_api>::from_cell(cell.get());
  for (std::int64_t i = 0; i < 3; ++i) ASSERT_EQ(to.tell(credit_ping{i}), troupe::send_result::ok);
  turns->run();
  EXPECT_EQ(link->forwarded, 2) << "the window held two";
  EXPECT_EQ(turns->scheduled(), 0) << "parked on its window";
  // Waiting longer than the bound is reported once per wait.
  const auto now = std::chrono::steady_clock::now();
  EXPECT_TRUE(windows.overdue(now, std::chrono::hours(1)).empty());
  auto late = windows.overdue(now + std::chrono::seconds(3), std::chrono::seconds(2));
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].remote, 7u);
  EXPECT_GE(late[0].waited, std::chrono::seconds(2));
  EXPECT_TRUE(windows.overdue(now + std::chrono::seconds(4), std::chrono::seconds(2)).empty()) << "reported once";
  windows.grant(7, 0);
  EXPECT_EQ(turns->scheduled(), 0) << "nothing granted: still parked";
  windows.grant(7, 1);
  ASSERT_EQ(turns->scheduled(), 1);
  turns->run();
  EXPECT_EQ(link->forwarded, 3);
  // Out of credit again and parked: the connection's end hands it back.
  ASSERT_EQ(to.tell(credit_ping{9}), troupe::send_result::ok);
  turns->run();
  auto parked = windows.take_parked();
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0], cell);
  // After the end, a turn that ran out of credit meanwhile does not park:
  // nobody would wake it, and the window would hold it (and its connection) for good.
  EXPECT_FALSE(windows.park(*windows.find(7), static_cast<troupe::detail::remote_proxy&>(*cell)));
  static_cast<troupe::detail::remote_proxy&>(*cell).node_down("test over");
  turns->run();
  windows.close(7);
}

} // namespace
} // namespace transport_test
