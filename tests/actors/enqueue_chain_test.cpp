// reader_access::enqueue_chain, what a transport's reader uses to hand inbound
// messages to an actor: a chain of messages queued at once, with
// per-message decisions where the bound refuses and dead letters when the
// actor is gone.
#include <gtest/gtest.h>

#include <cstdint>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace {

// ---- enqueue_chain ---------------------------------------------------------------

using namespace troupe::test::prelude;
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
  detail::reader_access::enqueue_chain(*r.cell(), c.first, static_cast<std::uint32_t>(n));
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
