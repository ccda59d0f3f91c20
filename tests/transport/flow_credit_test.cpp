// Flow credit alone, with no connection: the receiving side's accounts (one
// atomic operation per handled message, a grant every credit_step, freed
// with the last reference) and the sending side's windows (one per remote
// actor, kept across the proxies that come and go for it).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "link/flow_credit.hpp"
#include "protocol/control_codec.hpp"
#include "support/test_support.hpp"

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
    EXPECT_TRUE(control::parse_credit(std::string_view(frame).substr(5), c));
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

} // namespace
