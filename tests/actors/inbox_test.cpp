// Tests of troupe/actors/inbox.hpp: a mailbox read by a thread outside the
// actor system.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"

namespace {

using namespace troupe::test::prelude;
using clock_type = std::chrono::steady_clock;
using troupe::inbox;

using int_ref = actor_ref<inbox<int>::actor_type>;

/// Sends 0..n-1 to `to`, `batch` per turn; a muted send ends the turn.
struct counter_sender : actor<counter_sender> {
  counter_sender(int_ref to, int n) : to_(std::move(to)), n_(n) {}
  void on(troupe::test::go) {
    for (int k = 0; k < 32 && next_ < n_; ++k) {
      const auto r = to_.tell(next_++);
      if (r == send_result::muted) {
        ++muted;
        break;
      }
    }
    if (next_ < n_) defer(troupe::test::go{});
  }
  int on(troupe::test::get_seen) { return muted; }
  int_ref to_;
  int n_, next_ = 0, muted = 0;
};

TEST(Inbox, ReceiveReturnsMessagesInOrder) {
  actor_system sys(system_config{.threads = 2});
  inbox<int> in(sys);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(in.ref().tell(i), send_result::ok);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(in.receive(long_wait), i);
  auto s = sys.spawn<counter_sender>(in.ref(), 1000);
  s.tell(troupe::test::go{});
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(in.receive(long_wait), i);
}

TEST(Inbox, ReceiveTimesOutWithNullopt) {
  actor_system sys(system_config{.threads = 1});
  inbox<int> in(sys);
  const auto start = clock_type::now();
  EXPECT_EQ(in.receive(50ms), std::nullopt);
  EXPECT_GE(clock_type::now() - start, 50ms);
  EXPECT_EQ(in.receive(0ms), std::nullopt) << "a zero timeout polls";
  in.ref().tell(3);
  EXPECT_EQ(in.receive(0ms), 3);
}

TEST(Inbox, NegativeTimeoutThrows) {
  actor_system sys(system_config{.threads = 1});
  inbox<int> in(sys);
  EXPECT_THROW((void)in.receive(-1ms), std::invalid_argument);
}

TEST(Inbox, WaitingReceiverWakesWhenAMessageArrives) {
  actor_system sys(system_config{.threads = 1});
  inbox<std::string> in(sys);
  auto ref = in.ref();
  troupe::detail::system_access::core(sys).timers().schedule_after(30ms, [ref] { ref.tell(std::string("late")); });
  const auto start = clock_type::now();
  EXPECT_EQ(in.receive(long_wait), "late");
  EXPECT_LT(clock_type::now() - start, 10s);
}

TEST(Inbox, ManyThreadsSendAllArriveInPerSenderOrder) {
  actor_system sys(system_config{.threads = 1});
  inbox<troupe::test::seq_msg> in(sys);
  constexpr int senders = 4;
  const int per_sender = static_cast<int>(troupe::test::scaled(10'000, 1'000));
  std::vector<std::future<void>> threads;
  for (int s = 0; s < senders; ++s) {
    threads.push_back(std::async(std::launch::async, [&, s] {
      for (int i = 0; i < per_sender; ++i) in.ref().tell(troupe::test::seq_msg{s, i});
    }));
  }
  std::vector<troupe::test::seq_msg> got;
  for (int i = 0; i < senders * per_sender; ++i) {
    auto m = in.receive(long_wait);
    ASSERT_TRUE(m.has_value()) << "after " << i;
    got.push_back(*m);
  }
  for (auto& t : threads) ASSERT_EQ(t.wait_for(long_wait), std::future_status::ready);
  EXPECT_TRUE(troupe::test::per_sender_increasing(got, senders));
  EXPECT_EQ(in.receive(0ms), std::nullopt);
}

TEST(Inbox, IsNotCountedAsAnActor) {
  actor_system sys(system_config{.threads = 1});
  inbox<int> in(sys);
  EXPECT_EQ(sys.stats().spawned, 0u);
  EXPECT_EQ(sys.stats().live, 0u);
  in.ref().stop();  // an inbox has no system lane: ignored
  in.ref().tell(1);
  EXPECT_EQ(in.receive(long_wait), 1);
  EXPECT_TRUE(sys.await_all_stopped(1s));
}

TEST(Inbox, BoundedInboxMutesActorSenders) {
  actor_system sys(system_config{.threads = 2});
  inbox<int> in(sys, mailbox_options{.capacity = 4, .policy = overflow::mute_sender});
  const int n = 500;
  auto s = sys.spawn<counter_sender>(in.ref(), n);
  s.tell(troupe::test::go{});
  ASSERT_TRUE(troupe::test::wait_until([&] { return in.ref().mailbox_depth() >= 5; }, long_wait));
  EXPECT_LE(in.ref().mailbox_depth(), 5u) << "one sender overshoots by at most one";
  for (int i = 0; i < n; ++i) ASSERT_EQ(in.receive(long_wait), i) << "the muted sender never resumed";
  auto muted = s.ask(troupe::test::get_seen{}, long_wait).get();
  ASSERT_TRUE(muted.ok());
  EXPECT_GT(muted.value(), 0);
}

TEST(Inbox, ExternalSenderBlocksOnAFullBoundedInbox) {
  actor_system sys(system_config{.threads = 1});
  inbox<int> in(sys, mailbox_options{.capacity = 4, .policy = overflow::mute_sender});
  std::atomic<int> returned{0};
  auto sender = std::async(std::launch::async, [&] {
    for (int i = 0; i < 20; ++i) {
      in.ref().tell(i);
      returned.fetch_add(1);
    }
  });
  ASSERT_TRUE(troupe::test::wait_until([&] { return in.ref().mailbox_depth() == 5; }, long_wait));
  EXPECT_EQ(returned.load(), 4);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(in.receive(long_wait), i);
  ASSERT_EQ(sender.wait_for(long_wait), std::future_status::ready);
  EXPECT_EQ(returned.load(), 20);
}

TEST(Inbox, FailPolicyInboxRefuses) {
  actor_system sys(system_config{.threads = 1});
  inbox<int> in(sys, mailbox_options{.capacity = 2, .policy = overflow::fail});
  EXPECT_EQ(in.ref().tell(1), send_result::ok);
  EXPECT_EQ(in.ref().tell(2), send_result::ok);
  EXPECT_EQ(in.ref().tell(3), send_result::full);
  EXPECT_EQ(sys.stats().dead(drop_reason::mailbox_full), 1u);
  EXPECT_EQ(in.receive(long_wait), 1);
  EXPECT_EQ(in.ref().tell(4), send_result::ok);
  EXPECT_EQ(in.receive(long_wait), 2);
  EXPECT_EQ(in.receive(long_wait), 4);
}

TEST(Inbox, SendsAfterTheInboxIsGoneAreDeadLetters) {
  actor_system sys(system_config{.threads = 1});
  int_ref ref;
  {
    inbox<int> in(sys);
    ref = in.ref();
    ref.tell(1);
    ref.tell(2);  // still queued when the inbox goes: dead letters
  }
  EXPECT_EQ(sys.stats().dead(drop_reason::receiver_stopped), 2u);
  EXPECT_EQ(ref.tell(3), send_result::dead);
  EXPECT_EQ(sys.stats().dead(drop_reason::receiver_stopped), 3u);
}

TEST(Inbox, InvalidOptionsThrow) {
  actor_system sys(system_config{.threads = 1});
  EXPECT_THROW(inbox<int>(sys, mailbox_options{.capacity = 0}), std::invalid_argument);
}

} // namespace
