// Tests of the pieces a transport uses to hand inbound messages to actors:
// credit accounts (one atomic operation per handled message, a grant every
// credit_step, freed with the last reference) and actor_cell::enqueue_chain
// (a chain of messages queued at once, with per-message decisions where the
// bound refuses and dead letters when the actor is gone).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/actors/detail/wire_envelope.hpp"

namespace {

using troupe::remote::credit_account;
using troupe::remote::credit_step;

struct counting_account final : credit_account {
  counting_account(std::atomic<std::int64_t>& granted, std::atomic<int>& freed) : granted_(granted), freed_(freed) {}
  ~counting_account() override { freed_.fetch_add(1); }
  void grant(std::int64_t units) noexcept override { granted_.fetch_add(units); }
  std::atomic<std::int64_t>& granted_;
  std::atomic<int>& freed_;
};

TEST(CreditAccount, GrantsEveryStepAndIsFreedWithTheLastReference) {
  std::atomic<std::int64_t> granted{0};
  std::atomic<int> freed{0};
  auto* a = new counting_account(granted, freed);  // the owner's reference
  const auto n = static_cast<std::uint32_t>(2 * credit_step + 7);
  a->retain(n);  // one per queued message, as a transport takes them per chain
  for (std::uint32_t i = 0; i + 1 < n; ++i) a->consumed_and_release(1);
  EXPECT_EQ(granted.load(), 2 * credit_step) << "a grant per credit_step handled, none for the 7 left over";
  a->consumed(1);  // a dropped message counted without its own reference
  a->consumed_and_release(1);
  EXPECT_EQ(freed.load(), 0) << "the owner still holds its reference";
  a->release();
  EXPECT_EQ(freed.load(), 1);
  EXPECT_EQ(granted.load(), 2 * credit_step);
}

TEST(CreditAccount, LargeMessagesCostMoreAndAStepGrantsWhatGathered) {
  std::atomic<std::int64_t> granted{0};
  std::atomic<int> freed{0};
  auto* a = new counting_account(granted, freed);
  using troupe::remote::credit_cost;
  EXPECT_EQ(credit_cost(0), 1);
  EXPECT_EQ(credit_cost(troupe::remote::credit_unit_bytes - 1), 1);
  EXPECT_EQ(credit_cost(2048), 5) << "a 2 KiB message costs five small ones";
  const std::int64_t big = credit_cost(3 * credit_step * troupe::remote::credit_unit_bytes);  // over a whole step
  a->retain(3);
  a->consumed_and_release(7);
  EXPECT_EQ(granted.load(), 0);
  a->consumed_and_release(big);
  EXPECT_EQ(granted.load(), 7 + big) << "the step grants everything gathered, not just credit_step";
  a->consumed_and_release(1);
  EXPECT_EQ(granted.load(), 7 + big);
  a->release();
  EXPECT_EQ(freed.load(), 1);
}

TEST(CreditAccount, ConcurrentConsumersGrantExactlyAndFreeOnce) {
  // Messages of one account handled on several threads (an actor moving
  // between workers, dead letters): every step granted once, freed once.
  constexpr int threads = 4;
  const int per_thread = static_cast<int>(troupe::test::scaled(5 * credit_step + 3, credit_step + 3));
  std::atomic<std::int64_t> granted{0};
  std::atomic<int> freed{0};
  auto* a = new counting_account(granted, freed);
  a->retain(static_cast<std::uint32_t>(threads * per_thread));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) a->consumed_and_release(1);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(granted.load(), (threads * per_thread) / credit_step * credit_step);
  EXPECT_EQ(freed.load(), 0);
  a->release();
  EXPECT_EQ(freed.load(), 1);
}

// ---- enqueue_chain ---------------------------------------------------------------

using troupe::actor_system;
using troupe::drop_reason;
using troupe::overflow;
using troupe::system_config;
using troupe::test::gate;
using troupe::test::gate_opener;
using troupe::test::recorder;
using troupe::test::seq_msg;
namespace detail = troupe::detail;

/// `n` messages to a recorder, linked as a transport links a chain.
struct chain {
  explicit chain(int n) {
    for (int i = 0; i < n; ++i) {
      auto* e = new detail::message_envelope<seq_msg>(&detail::user_ops<recorder, seq_msg>::ops, seq_msg{0, i});
      if (last != nullptr) last->next.store(e, std::memory_order_relaxed);
      if (first == nullptr) first = e;
      last = e;
    }
  }
  detail::envelope* first = nullptr;
  detail::envelope* last = nullptr;
};

/// Queues `c` (`n` messages) into `r` as a transport reader does.
void enqueue_as_reader(const troupe::actor_ref<recorder>& r, const chain& c, int n) {
  detail::never_block_scope reader;
  r.cell()->enqueue_chain(c.first, static_cast<std::uint32_t>(n));
}

/// A held recorder (see troupe::test::held_recorder) with a mailbox of 8
/// under `policy`.
struct small_held_recorder : troupe::test::held_recorder {
  static constexpr std::size_t capacity = 8;
  explicit small_held_recorder(overflow policy)
      : held_recorder({.threads = 2}, {.mailbox = {.capacity = capacity, .policy = policy}, .dedicated_thread = true}) {}
};

void expect_first_in_order(const troupe::actor_ref<recorder>& r, std::size_t count) {
  auto seen = troupe::test::seen_by(r);
  ASSERT_EQ(seen.size(), count);
  for (std::size_t i = 0; i < count; ++i) EXPECT_EQ(seen[i].seq, static_cast<int>(i)) << "the first ones, in order";
}

TEST(EnqueueChain, ArrivesWholeAndInOrder) {
  actor_system sys(system_config{.threads = 2});
  auto r = sys.spawn<recorder>();
  constexpr int n = 500;
  enqueue_as_reader(r, chain(n), n);
  expect_first_in_order(r, n);
}

TEST(EnqueueChain, PastAMuteSenderBoundAReadersChainIsAcceptedWhole) {
  // A reader never blocks and mutes nobody: flow credit bounds what it queues.
  small_held_recorder h(overflow::mute_sender);
  ASSERT_TRUE(h.hold());
  const auto base = h.r.mailbox_depth();
  constexpr int n = 20;
  enqueue_as_reader(h.r, chain(n), n);
  EXPECT_EQ(h.r.mailbox_depth(), base + n) << "the whole chain is queued, over the bound";
  EXPECT_EQ(h.sys.stats().dead(drop_reason::mailbox_full), 0u);
  h.release.open();
  expect_first_in_order(h.r, n);
}

TEST(EnqueueChain, ARefusingBoundDecidesPerMessageAndCountsTheRefused) {
  small_held_recorder h(overflow::fail);
  ASSERT_TRUE(h.hold());
  const auto room = small_held_recorder::capacity - h.r.mailbox_depth();
  constexpr int n = 20;
  enqueue_as_reader(h.r, chain(n), n);
  EXPECT_EQ(h.sys.stats().dead(drop_reason::mailbox_full), std::uint64_t(n) - room);
  h.release.open();
  expect_first_in_order(h.r, room);
}

TEST(EnqueueChain, AStoppedActorsChainBecomesDeadLetters) {
  actor_system sys(system_config{.threads = 2});
  auto r = sys.spawn<recorder>();
  r.stop();
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, troupe::test::long_wait));
  constexpr int n = 5;
  enqueue_as_reader(r, chain(n), n);
  EXPECT_EQ(sys.stats().dead(drop_reason::receiver_stopped), std::uint64_t(n));
}

} // namespace
