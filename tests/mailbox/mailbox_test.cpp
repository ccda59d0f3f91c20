// Tests of troupe/mailbox/mailbox.hpp and mailbox_options.hpp: admission
// results per policy, the system lane, finish/close accounting, validation.
#include "troupe/mailbox/mailbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "support/test_support.hpp"
#include "troupe/mailbox/mailbox_options.hpp"

namespace {

using troupe::admission;
using troupe::mailbox;
using troupe::mailbox_options;
using troupe::overflow;

struct node : troupe::mpsc_node {
  int value = 0;
};

/// A pool of nodes that outlives the mailbox under test.
struct nodes {
  explicit nodes(std::size_t n) : v(n) {
    for (std::size_t i = 0; i < n; ++i) v[i].value = static_cast<int>(i);
  }
  node* operator[](std::size_t i) { return &v[i]; }
  std::vector<node> v;
};

mailbox_options opts(std::size_t capacity, overflow p) { return {.capacity = capacity, .policy = p}; }

// ---- options ----------------------------------------------------------------

TEST(MailboxOptions, CapacityZeroThrows) {
  EXPECT_THROW(opts(0, overflow::fail).validate(), std::invalid_argument);
  EXPECT_THROW(mailbox{opts(0, overflow::mute_sender)}, std::invalid_argument);
}

TEST(MailboxOptions, LowWaterMustBeBelowCapacity) {
  mailbox_options o{.capacity = 8, .policy = overflow::mute_sender, .low_water = 8};
  EXPECT_THROW(o.validate(), std::invalid_argument);
  o.low_water = 9;
  EXPECT_THROW(o.validate(), std::invalid_argument);
  EXPECT_THROW(mailbox{o}, std::invalid_argument);
  o.low_water = 7;
  EXPECT_NO_THROW(o.validate());
  o.low_water = 0;
  EXPECT_NO_THROW(o.validate());
}

TEST(MailboxOptions, LowWaterDefaultsToHalfCapacity) {
  EXPECT_EQ(opts(10, overflow::mute_sender).effective_low_water(), 5u);
  EXPECT_EQ(opts(1, overflow::mute_sender).effective_low_water(), 0u);
  mailbox_options o{.capacity = 10, .low_water = 3};
  EXPECT_EQ(o.effective_low_water(), 3u);
  mailbox box(o);
  EXPECT_EQ(box.low_water(), 3u);
  EXPECT_EQ(box.capacity(), 10u);
}

TEST(MailboxOptions, DefaultsAreBoundedMuteSender) {
  mailbox_options o;
  EXPECT_EQ(o.capacity, 1024u);
  EXPECT_EQ(o.policy, overflow::mute_sender);
  EXPECT_NO_THROW(o.validate());
}

TEST(MailboxOptions, ParseOverflowRoundTrips) {
  for (overflow o : {overflow::mute_sender, overflow::fail, overflow::drop_newest, overflow::drop_oldest}) {
    auto parsed = troupe::parse_overflow(troupe::to_string(o));
    ASSERT_TRUE(parsed.has_value()) << troupe::to_string(o);
    EXPECT_EQ(*parsed, o);
  }
  EXPECT_EQ(troupe::parse_overflow("mute_sender"), overflow::mute_sender);
  EXPECT_EQ(troupe::parse_overflow("fail"), overflow::fail);
  EXPECT_EQ(troupe::parse_overflow("drop_newest"), overflow::drop_newest);
  EXPECT_EQ(troupe::parse_overflow("drop_oldest"), overflow::drop_oldest);
}

TEST(MailboxOptions, ParseOverflowRejectsUnknownNames) {
  EXPECT_EQ(troupe::parse_overflow("bogus"), std::nullopt);
  EXPECT_EQ(troupe::parse_overflow(""), std::nullopt);
  EXPECT_EQ(troupe::parse_overflow("FAIL"), std::nullopt);
  EXPECT_EQ(troupe::parse_overflow("fail "), std::nullopt);
}

TEST(MailboxOptions, OverflowFromNameThrowsForUnknownNames) {
  EXPECT_EQ(troupe::overflow_from_name("drop_oldest"), overflow::drop_oldest);
  EXPECT_EQ(troupe::overflow_from_name("mute_sender"), overflow::mute_sender);
  EXPECT_THROW((void)troupe::overflow_from_name("bogus"), std::invalid_argument);
  EXPECT_THROW((void)troupe::overflow_from_name(""), std::invalid_argument);
}

TEST(MailboxOptions, UnknownPolicyValueThrows) {
  mailbox_options o{.capacity = 4, .policy = static_cast<overflow>(42)};
  EXPECT_THROW(o.validate(), std::invalid_argument);
}

// ---- admission --------------------------------------------------------------

TEST(BoundedMailbox, FirstPushSchedulesLaterPushesDoNot) {
  nodes n(3);
  mailbox box(opts(8, overflow::mute_sender));
  EXPECT_TRUE(box.bounded());
  EXPECT_EQ(box.push(n[0]), admission::accepted_schedule);
  EXPECT_EQ(box.push(n[1]), admission::accepted);
  EXPECT_EQ(box.push(n[2]), admission::accepted);
  EXPECT_EQ(box.depth(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(static_cast<node*>(box.pop())->value, i);
  EXPECT_EQ(box.finish(3), 0u);
  // Idle again: the next sender must schedule the consumer.
  EXPECT_EQ(box.push(n[0]), admission::accepted_schedule);
  EXPECT_EQ(box.pop(), n[0]);
  EXPECT_EQ(box.finish(1), 0u);
}

TEST(BoundedMailbox, MuteSenderAcceptsOverCapacity) {
  nodes n(5);
  mailbox box(opts(2, overflow::mute_sender));
  EXPECT_EQ(box.push(n[0]), admission::accepted_schedule);
  EXPECT_EQ(box.push(n[1]), admission::accepted);
  EXPECT_EQ(box.push(n[2]), admission::accepted_over);
  EXPECT_EQ(box.push(n[3]), admission::accepted_over);
  EXPECT_EQ(box.depth(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(static_cast<node*>(box.pop())->value, i);
  EXPECT_EQ(box.finish(4), 0u);
}

TEST(BoundedMailbox, TryPushFailsWhenFull) {
  nodes n(4);
  mailbox box(opts(2, overflow::fail));
  EXPECT_EQ(box.push(n[0]), admission::accepted_schedule);
  EXPECT_EQ(box.push(n[1]), admission::accepted);
  EXPECT_EQ(box.push(n[2]), admission::refused);
  EXPECT_EQ(box.push(n[3]), admission::refused);
  EXPECT_EQ(box.depth(), 2u) << "a refused push must not count";
  EXPECT_EQ(box.pop(), n[0]);
  EXPECT_EQ(box.finish(1), 1u);
  EXPECT_EQ(box.push(n[2]), admission::accepted) << "room again after the consumer finished one";
  EXPECT_EQ(box.pop(), n[1]);
  EXPECT_EQ(box.pop(), n[2]);
  EXPECT_EQ(box.pop(), nullptr);
  EXPECT_EQ(box.finish(2), 0u);
}

TEST(BoundedMailbox, DropNewestRefusesWhenFull) {
  nodes n(3);
  mailbox box(opts(2, overflow::drop_newest));
  EXPECT_EQ(box.push(n[0]), admission::accepted_schedule);
  EXPECT_EQ(box.push(n[1]), admission::accepted);
  EXPECT_EQ(box.push(n[2]), admission::refused);
  EXPECT_EQ(box.depth(), 2u);
  EXPECT_EQ(box.pop(), n[0]);
  EXPECT_EQ(box.pop(), n[1]);
  EXPECT_EQ(box.pop(), nullptr);
  EXPECT_EQ(box.finish(2), 0u);
}

TEST(BoundedMailbox, DropOldestAcceptsAndLeavesTrimmingToTheConsumer) {
  // The mailbox itself never refuses for drop_oldest: the consumer trims.
  nodes n(4);
  mailbox box(opts(2, overflow::drop_oldest));
  EXPECT_EQ(box.push(n[0]), admission::accepted_schedule);
  EXPECT_EQ(box.push(n[1]), admission::accepted);
  EXPECT_EQ(box.push(n[2]), admission::accepted);
  EXPECT_EQ(box.push(n[3]), admission::accepted);
  EXPECT_EQ(box.depth(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(box.pop(), n[i]);
  EXPECT_EQ(box.finish(4), 0u);
}

TEST(BoundedMailbox, ConsumedButUnfinishedMessagesStillCount) {
  // The depth drops only when the consumer finishes its turn.
  nodes n(3);
  mailbox box(opts(2, overflow::fail));
  ASSERT_EQ(box.push(n[0]), admission::accepted_schedule);
  ASSERT_EQ(box.push(n[1]), admission::accepted);
  ASSERT_EQ(box.pop(), n[0]);
  ASSERT_EQ(box.pop(), n[1]);
  EXPECT_EQ(box.push(n[2]), admission::refused);
  EXPECT_EQ(box.finish(2), 0u);
  EXPECT_EQ(box.push(n[2]), admission::accepted_schedule);
  EXPECT_EQ(box.pop(), n[2]);
  EXPECT_EQ(box.finish(1), 0u);
}

TEST(BoundedMailbox, FinishReturnsRemainingDepth) {
  nodes n(5);
  mailbox box(opts(16, overflow::mute_sender));
  for (int i = 0; i < 5; ++i) (void)box.push(n[i]);
  ASSERT_EQ(box.pop(), n[0]);
  ASSERT_EQ(box.pop(), n[1]);
  EXPECT_EQ(box.finish(2), 3u);
  EXPECT_EQ(box.finish(0), 3u) << "finishing nothing reports the depth";
  ASSERT_EQ(box.pop(), n[2]);
  EXPECT_EQ(box.finish(1), 2u);
  ASSERT_EQ(box.pop(), n[3]);
  ASSERT_EQ(box.pop(), n[4]);
  EXPECT_EQ(box.finish(2), 0u);
  EXPECT_EQ(box.depth(), 0u);
}

TEST(BoundedMailbox, HeldTokenKeepsConsumerScheduled) {
  // A consumer that keeps a token (`hold`) stays "scheduled": the next push
  // must not ask for a schedule. The token counts as one user message.
  nodes n(3);
  mailbox box(opts(8, overflow::mute_sender));
  ASSERT_EQ(box.push(n[0]), admission::accepted_schedule);
  ASSERT_EQ(box.pop(), n[0]);
  EXPECT_EQ(box.finish(1, 0, /*hold=*/true), 1u);
  EXPECT_EQ(box.depth(), 1u);
  EXPECT_EQ(box.push(n[1]), admission::accepted);
  ASSERT_EQ(box.pop(), n[1]);
  EXPECT_EQ(box.finish(2), 0u) << "the token is released with the next turn";
  EXPECT_EQ(box.push(n[2]), admission::accepted_schedule);
  ASSERT_EQ(box.pop(), n[2]);
  EXPECT_EQ(box.finish(1), 0u);
}

TEST(BoundedMailbox, TokenCanBeHeldAfterASystemOnlyTurn) {
  // A turn that took only system messages may still hold a token.
  nodes n(2);
  mailbox box(opts(8, overflow::mute_sender));
  ASSERT_EQ(box.push_system(n[0]), admission::accepted_schedule);
  ASSERT_EQ(box.pop_system(), n[0]);
  const auto left = box.finish(0, 1, /*hold=*/true);
  EXPECT_EQ(mailbox::pending(left), 1u) << "the held token";
  EXPECT_FALSE(box.system_waiting());
  EXPECT_EQ(box.push(n[1]), admission::accepted) << "held: no schedule";
  ASSERT_EQ(box.pop(), n[1]);
  EXPECT_EQ(box.finish(2), 0u);
}

TEST(BoundedMailbox, CloseReturnsDepthAndRefusesLaterPushes) {
  nodes n(6);
  mailbox box(opts(4, overflow::fail));
  (void)box.push(n[0]);
  (void)box.push(n[1]);
  (void)box.push_system(n[2]);
  EXPECT_FALSE(box.is_closed());
  EXPECT_TRUE(box.system_waiting());
  const auto word = box.close();
  EXPECT_EQ(mailbox::pending(word), 3u) << "two user messages and one system message";
  EXPECT_EQ(box.depth(), 2u);
  EXPECT_TRUE(box.is_closed());
  EXPECT_EQ(box.push(n[3]), admission::closed);
  EXPECT_EQ(box.push_system(n[4]), admission::closed);
  // What was queued before the close is still there for the consumer.
  EXPECT_EQ(box.pop_system(), n[2]);
  EXPECT_EQ(box.pop(), n[0]);
  EXPECT_EQ(box.pop(), n[1]);
  EXPECT_EQ(box.pop(), nullptr);
}

TEST(BoundedMailbox, CloseOnFullRefusingMailboxReportsClosed) {
  nodes n(3);
  mailbox box(opts(2, overflow::fail));
  (void)box.push(n[0]);
  (void)box.push(n[1]);
  (void)box.close();
  EXPECT_EQ(box.push(n[2]), admission::closed) << "closed takes precedence over full";
}

TEST(BoundedMailbox, ClosedPushesDoNotChangeTheDepth) {
  // depth() is documented as "messages queued plus tokens held"; a push
  // refused with `closed` queues nothing, so the depth must not move.
  nodes n(4);
  mailbox box(opts(8, overflow::mute_sender));
  (void)box.push(n[0]);
  ASSERT_EQ(box.close(), 1u);
  EXPECT_EQ(box.push(n[1]), admission::closed);
  EXPECT_EQ(box.push(n[2]), admission::closed);
  EXPECT_EQ(box.push_system(n[3]), admission::closed);
  EXPECT_EQ(box.depth(), 1u) << "BUG: mailbox::push/push_system fetch_add the depth before testing the closed bit "
                                "and never undo it, so every send to a stopped actor inflates its depth";
}

// ---- chains (a transport queues what one read brought) ----------------------

/// Links n[from..to] through `next`, as a caller of push_chain does.
/// Joins the threads when a test ends, after a failed assertion too: for
/// producers that never wait on the consumer.
struct join_all {
  std::vector<std::thread>& t;
  ~join_all() {
    for (auto& x : t) x.join();
  }
};

void link(nodes& n, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) n[i]->next.store(n[i + 1], std::memory_order_relaxed);
}

TEST(ChainPush, QueuesTheWholeChainInOrderAndSchedulesOnce) {
  nodes n(6);
  mailbox box(opts(8, overflow::mute_sender));
  link(n, 0, 2);
  EXPECT_EQ(box.push_chain(n[0], 3), admission::accepted_schedule);
  EXPECT_EQ(box.depth(), 3u);
  link(n, 3, 4);
  EXPECT_EQ(box.push_chain(n[3], 2), admission::accepted) << "the consumer is already scheduled";
  EXPECT_EQ(box.push(n[5]), admission::accepted);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(static_cast<node*>(box.pop())->value, i);
  EXPECT_EQ(box.pop(), nullptr);
  EXPECT_EQ(box.finish(6), 0u);
}

TEST(ChainPush, PastCapacityOfAMuteSenderMailboxIsAcceptedOver) {
  nodes n(4);
  mailbox box(opts(3, overflow::mute_sender));
  EXPECT_EQ(box.push(n[0]), admission::accepted_schedule);
  link(n, 1, 3);
  EXPECT_EQ(box.push_chain(n[1], 3), admission::accepted_over);
  EXPECT_EQ(box.depth(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(static_cast<node*>(box.pop())->value, i);
}

TEST(ChainPush, UnboundedMailboxTakesAnyChain) {
  nodes n(100);
  mailbox box(mailbox_options::make_unbounded());
  link(n, 0, 99);
  EXPECT_EQ(box.push_chain(n[0], 100), admission::accepted_schedule);
  EXPECT_EQ(box.depth(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(static_cast<node*>(box.pop())->value, i);
}

TEST(ChainPush, RefusingPoliciesLeaveTheChainToTheCaller) {
  // A bound that refuses decides per message: the chain is handed back untouched.
  for (overflow p : {overflow::fail, overflow::drop_newest, overflow::drop_oldest}) {
    nodes n(3);
    mailbox box(opts(8, p));
    link(n, 0, 2);
    EXPECT_EQ(box.push_chain(n[0], 3), admission::refused) << troupe::to_string(p);
    EXPECT_EQ(box.depth(), 0u);
    EXPECT_EQ(box.pop(), nullptr);
    EXPECT_EQ(n[0]->next.load(), n[1]) << "the chain's links are intact for the caller";
    EXPECT_EQ(n[1]->next.load(), n[2]);
  }
}

TEST(ChainPush, ClosedMailboxRefusesTheChainAndKeepsItsDepth) {
  nodes n(4);
  mailbox box(opts(8, overflow::mute_sender));
  (void)box.push(n[0]);
  ASSERT_EQ(box.close(), 1u);
  link(n, 1, 3);
  EXPECT_EQ(box.push_chain(n[1], 3), admission::closed);
  EXPECT_EQ(box.depth(), 1u);
  EXPECT_EQ(box.pop(), n[0]);
  EXPECT_EQ(box.pop(), nullptr);
}

TEST(ChainPush, ChainsFromManyThreadsArriveWholeAndInOrder) {
  // Four producers each push 2,000 chains of 5; the consumer must see each
  // producer's values in order and every chain's five nodes back to back.
  constexpr int producers = 4, chains = 2000, len = 5;
  std::vector<nodes> pools;
  for (int p = 0; p < producers; ++p) {
    pools.emplace_back(std::size_t(chains * len));
    for (int i = 0; i < chains * len; ++i) pools.back()[std::size_t(i)]->value = p * 1'000'000 + i;
  }
  mailbox box(mailbox_options::make_unbounded());
  std::vector<std::thread> threads;
  join_all joiner{threads};  // the producers never wait on the consumer
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int c = 0; c < chains; ++c) {
        const std::size_t first = std::size_t(c * len), last = first + len - 1;
        link(pools[std::size_t(p)], first, last);
        (void)box.push_chain(pools[std::size_t(p)][first], len);
      }
    });
  }
  std::vector<int> next(producers, 0);
  int got = 0, in_chain = -1;  // in_chain: the producer whose chain is being read
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got < producers * chains * len) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "only " << got << " arrived";
    auto* x = static_cast<node*>(box.pop());
    if (x == nullptr) continue;  // a producer between its exchange and its link
    const int p = x->value / 1'000'000, i = x->value % 1'000'000;
    ASSERT_EQ(i, next[std::size_t(p)]) << "producer " << p << " out of order";
    if (in_chain >= 0) {
      ASSERT_EQ(p, in_chain) << "another producer's message inside a chain";
    }
    in_chain = i % len == len - 1 ? -1 : p;
    ++next[std::size_t(p)];
    ++got;
  }
  EXPECT_EQ(box.depth(), std::uint64_t(producers * chains * len));
}

// ---- system lane ------------------------------------------------------------

TEST(BoundedMailbox, SystemLaneIsNeverRefusedByTheBound) {
  nodes n(8);
  for (overflow p : {overflow::fail, overflow::drop_newest, overflow::mute_sender, overflow::drop_oldest}) {
    mailbox box(opts(1, p));
    ASSERT_EQ(box.push(n[0]), admission::accepted_schedule);
    for (int i = 1; i <= 5; ++i) {
      EXPECT_EQ(box.push_system(n[i]), admission::accepted) << troupe::to_string(p);
    }
    EXPECT_EQ(box.depth(), 1u) << "depth() counts user messages only";
    for (int i = 1; i <= 5; ++i) EXPECT_EQ(box.pop_system(), n[i]);
    EXPECT_EQ(box.pop_system(), nullptr);
    EXPECT_EQ(box.pop(), n[0]);
    EXPECT_EQ(box.pop(), nullptr);
    EXPECT_EQ(box.finish(1, 5), 0u);
  }
}

TEST(BoundedMailbox, SystemLaneIsServedIndependently) {
  nodes n(4);
  mailbox box(opts(8, overflow::fail));
  EXPECT_EQ(box.push_system(n[0]), admission::accepted_schedule) << "a system message wakes an idle consumer";
  EXPECT_EQ(box.push(n[1]), admission::accepted);
  EXPECT_EQ(box.push_system(n[2]), admission::accepted);
  EXPECT_EQ(box.pop(), n[1]) << "the user lane holds only user messages";
  EXPECT_EQ(box.pop(), nullptr);
  EXPECT_EQ(box.pop_system(), n[0]);
  EXPECT_EQ(box.pop_system(), n[2]);
  EXPECT_EQ(box.pop_system(), nullptr);
  const auto left = box.finish(1, 1);
  EXPECT_EQ(mailbox::pending(left), 1u) << "one system message is not accounted for yet";
  EXPECT_TRUE(box.system_waiting());
  EXPECT_EQ(box.depth(), 0u);
  EXPECT_EQ(box.finish(0, 1), 0u);
}

TEST(BoundedMailbox, SystemMessagesDoNotCountTowardsTheUserBound) {
  nodes n(5);
  for (overflow p : {overflow::fail, overflow::mute_sender}) {
    mailbox box(opts(2, p));
    (void)box.push_system(n[0]);
    (void)box.push_system(n[1]);
    (void)box.push_system(n[2]);
    EXPECT_EQ(box.depth(), 0u);
    EXPECT_EQ(box.push(n[3]), admission::accepted) << troupe::to_string(p);
    EXPECT_EQ(box.push(n[4]), admission::accepted) << troupe::to_string(p);
    for (int i = 0; i < 3; ++i) (void)box.pop_system();
    (void)box.pop();
    (void)box.pop();
    EXPECT_EQ(box.finish(2, 3), 0u);
  }
}

TEST(MailboxOptions, CapacityAboveTheDepthWordThrows) {
  mailbox_options o{.capacity = mailbox::max_capacity + 1};
  EXPECT_THROW(o.validate(), std::invalid_argument);
  o.capacity = mailbox::max_capacity;
  EXPECT_NO_THROW(o.validate());
}

// ---- unbounded ------------------------------------------------------------------

TEST(UnboundedMailbox, NeverRefuses) {
  const auto o = mailbox_options::make_unbounded();
  EXPECT_EQ(o.capacity, mailbox_options::unbounded);
  EXPECT_NO_THROW(o.validate());
  for (overflow p : {overflow::mute_sender, overflow::fail, overflow::drop_newest, overflow::drop_oldest}) {
    mailbox_options po = o;
    po.policy = p;
    mailbox box(po);
    EXPECT_FALSE(box.bounded());
    nodes n(5000);
    EXPECT_EQ(box.push(n[0]), admission::accepted_schedule);
    for (std::size_t i = 1; i < n.v.size(); ++i) {
      ASSERT_EQ(box.push(n[i]), admission::accepted) << troupe::to_string(p) << " push " << i;
    }
    EXPECT_EQ(box.depth(), n.v.size());
    for (std::size_t i = 0; i < n.v.size(); ++i) ASSERT_EQ(box.pop(), n[i]);
    EXPECT_EQ(box.finish(n.v.size()), 0u);
  }
}

// ---- concurrency ------------------------------------------------------------

TEST(BoundedMailbox, ConcurrentSendersOvershootByLessThanSenderCount) {
  // Documented: with S concurrent senders a refusing mailbox may exceed its
  // capacity by at most S - 1.
  constexpr std::size_t senders = 4;
  constexpr std::size_t capacity = 16;
  const std::size_t rounds = troupe::test::scaled(200, 40);
  const std::size_t per_sender = 64;
  for (std::size_t r = 0; r < rounds; ++r) {
    mailbox box(opts(capacity, overflow::fail));
    std::vector<std::vector<node>> n(senders);
    for (auto& v : n) v = std::vector<node>(per_sender);
    std::atomic<std::size_t> accepted{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t s = 0; s < senders; ++s) {
      threads.emplace_back([&, s] {
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        for (auto& x : n[s]) {
          if (box.push(&x) != admission::refused) accepted.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    ASSERT_GE(accepted.load(), capacity);
    ASSERT_LE(accepted.load(), capacity + senders - 1) << "round " << r;
    ASSERT_EQ(box.depth(), accepted.load());
    std::size_t popped = 0;
    while (box.pop() != nullptr) ++popped;
    ASSERT_EQ(popped, accepted.load());
    ASSERT_EQ(box.finish(popped), 0u);
  }
}

TEST(BoundedMailbox, ConcurrentProducersAndConsumerScheduleExactlyOnce) {
  // Whenever the consumer is idle, exactly one push reports
  // accepted_schedule. Model: producers "schedule" by incrementing a counter;
  // the consumer runs a turn per schedule and must never run concurrently.
  constexpr std::size_t producers = 3;
  const std::size_t per_producer = troupe::test::scaled(20'000, 2'000);
  mailbox box(mailbox_options::make_unbounded());
  std::vector<std::vector<node>> n(producers);
  for (auto& v : n) v = std::vector<node>(per_producer);
  std::atomic<std::size_t> schedules{0};
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (auto& x : n[p]) {
        if (box.push(&x) == admission::accepted_schedule) schedules.fetch_add(1, std::memory_order_acq_rel);
      }
    });
  }
  std::size_t turns = 0, consumed = 0;
  bool scheduled_while_running = false;
  const auto deadline = std::chrono::steady_clock::now() + troupe::test::long_wait;
  while (consumed < producers * per_producer && std::chrono::steady_clock::now() < deadline) {
    if (schedules.load(std::memory_order_acquire) == turns) {
      std::this_thread::yield();
      continue;
    }
    ++turns;  // one turn per schedule: the consumer is now "running"
    for (;;) {
      std::size_t k = 0;
      while (box.pop() != nullptr) ++k;
      consumed += k;
      // Still running (depth not yet given back): nobody may have been told to schedule.
      if (schedules.load(std::memory_order_acquire) != turns) scheduled_while_running = true;
      if (box.finish(k) == 0) break;  // idle: the next push schedules again
      std::this_thread::yield();      // a producer is between its two steps
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(scheduled_while_running);
  EXPECT_GE(turns, 1u);
  EXPECT_EQ(consumed, producers * per_producer);
  EXPECT_EQ(box.depth(), 0u);
}

} // namespace

// ---- segments -----------------------------------------------------------------
// User messages sit in slots of linked segments (a small first one, then
// troupe::slot_segment::slots each); the consumer retires a segment it leaves
// and frees it once every sender that could hold it has written its slot.

namespace {
constexpr std::size_t seg = troupe::slot_segment::slots;
}

TEST(Segments, AMailboxHoldsNoneBeforeItsFirstMessageAndOneWhenIdleAfterABurst) {
  const std::size_t burst = 10 * seg + 3;
  nodes n(burst);
  mailbox box(mailbox_options::make_unbounded());
  EXPECT_EQ(box.segments(), 0u);
  for (std::size_t i = 0; i < burst; ++i) (void)box.push(n[i]);
  const std::size_t first = troupe::slot_segment::first_slots;
  EXPECT_EQ(box.segments(), 1 + (burst - first + seg - 1) / seg) << "the small first segment, then full ones";
  for (std::size_t i = 0; i < burst; ++i) ASSERT_EQ(box.pop(), n[i]);
  EXPECT_EQ(box.pop(), nullptr);
  EXPECT_EQ(box.finish(burst), 0u);
  EXPECT_EQ(box.segments(), 1u) << "every retired segment is freed once the mailbox is drained";
  // Many more boundaries, one message at a time (a ping-pong's pattern).
  for (std::size_t round = 0; round < 5 * seg; ++round) {
    ASSERT_EQ(box.push(n[round % burst]), admission::accepted_schedule);
    ASSERT_EQ(box.pop(), n[round % burst]);
    ASSERT_EQ(box.finish(1), 0u);
    ASSERT_EQ(box.segments(), 1u) << "round " << round;
  }
}

TEST(Segments, AChainThatCrossesSegmentsKeepsItsOrder) {
  const std::size_t before = seg - 2, chain = 3 * seg + 5;
  nodes n(before + chain + 1);
  mailbox box(mailbox_options::make_unbounded());
  for (std::size_t i = 0; i < before; ++i) (void)box.push(n[i]);
  link(n, before, before + chain - 1);
  EXPECT_EQ(box.push_chain(n[before], static_cast<std::uint32_t>(chain)), admission::accepted);
  (void)box.push(n[before + chain]);
  for (std::size_t i = 0; i <= before + chain; ++i) ASSERT_EQ(box.pop(), n[i]) << i;
  EXPECT_EQ(box.pop(), nullptr);
  EXPECT_EQ(box.depth(), before + chain + 1);
}

TEST(Segments, SendersRacingAConsumerThatRetiresSegmentsLoseNothing) {
  // Four senders each push their own numbered messages as fast as they can;
  // the consumer finishes every few messages, so it retires and frees
  // segments while senders still walk the list. Every message must arrive
  // exactly once and in each sender's order. Under AddressSanitizer the
  // block pool hands segments to malloc, so a segment freed too early is a
  // reported use after free; ThreadSanitizer checks the orderings.
  constexpr int senders = 4;
  const int each = static_cast<int>(troupe::test::scaled(200'000, 20'000));
  std::vector<nodes> pools;
  for (int p = 0; p < senders; ++p) {
    pools.emplace_back(std::size_t(each));
    for (int i = 0; i < each; ++i) pools.back()[std::size_t(i)]->value = p * 10'000'000 + i;
  }
  mailbox box(mailbox_options::make_unbounded());
  std::vector<std::thread> threads;
  join_all joiner{threads};  // the senders never wait on the consumer
  for (int p = 0; p < senders; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < each; ++i) (void)box.push(pools[std::size_t(p)][std::size_t(i)]);
    });
  }
  std::vector<int> next(senders, 0);
  int got = 0;
  std::uint64_t unfinished = 0;
  const auto until = std::chrono::steady_clock::now() + troupe::test::long_wait;
  while (got < senders * each) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "only " << got << " arrived";
    auto* x = static_cast<node*>(box.pop());
    if (x == nullptr) {
      std::this_thread::yield();  // empty, or a sender between its fetch_add and its slot
      continue;
    }
    const int p = x->value / 10'000'000, i = x->value % 10'000'000;
    ASSERT_EQ(i, next[std::size_t(p)]) << "sender " << p << " out of order or twice";
    ++next[std::size_t(p)];
    ++got;
    if (++unfinished == 7) box.finish(std::exchange(unfinished, 0));
  }
  for (auto& t : threads) t.join();
  threads.clear();
  EXPECT_EQ(box.pop(), nullptr) << "nothing beyond what was sent";
  EXPECT_EQ(box.finish(unfinished), 0u);
  EXPECT_EQ(box.segments(), 1u);
}

TEST(Segments, QueuedCountsUserMessagesClaimedAndNotYetPopped) {
  // drop_oldest trims by queued(): exact for the consumer, whatever the
  // system lane or the turn's unfinished count do meanwhile.
  nodes n(2 * seg + 4);
  mailbox box(opts(4, overflow::drop_oldest));
  for (std::size_t i = 0; i < 2 * seg; ++i) (void)box.push(n[i]);  // past 2x capacity some are refused
  const std::uint64_t accepted = box.depth();
  ASSERT_EQ(accepted, 8u) << "drop_oldest refuses at twice its capacity while the consumer is away";
  EXPECT_EQ(box.queued(), accepted);
  (void)box.push_system(n[2 * seg]);
  EXPECT_EQ(box.queued(), accepted) << "system messages are not in the user lane";
  ASSERT_NE(box.pop(), nullptr);
  ASSERT_NE(box.pop(), nullptr);
  EXPECT_EQ(box.queued(), accepted - 2) << "popped, though not finished";
  EXPECT_EQ(box.depth(), accepted) << "the bound still counts the unfinished ones";
  EXPECT_EQ(box.pop_system(), n[2 * seg]);
  EXPECT_EQ(box.finish(2, 1), accepted - 2);
  EXPECT_EQ(box.queued(), accepted - 2);
}
