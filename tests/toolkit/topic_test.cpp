#include "toolkit.hpp"

namespace toolkit {
namespace {

struct tick {
  int seq;
};

/// Records ticks; reports on flush.
struct listener : troupe::actor<listener> {
  listener(events_ref out, std::string name, troupe::test::gate* hold = nullptr)
      : out_(std::move(out)), name_(std::move(name)), hold_(hold) {}
  void on(tick t) {
    if (hold_ != nullptr) {
      EXPECT_TRUE(hold_->wait_for(troupe::test::long_wait));
    }
    hold_ = nullptr;
    if (t.seq != last_ + 1) in_order_ = false;
    last_ = t.seq;
    ++count_;
  }
  void on(flush) { out_.tell(event{name_, std::to_string(count_) + (in_order_ ? " ordered" : " gaps"), {}, static_cast<std::uint64_t>(last_)}); }
  events_ref out_;
  std::string name_;
  troupe::test::gate* hold_;
  int count_ = 0, last_ = -1;
  bool in_order_ = true;
};

TEST(Topic, PublishReachesEverySubscriberOnce) {
  troupe::actor_system sys;
  events in(sys);
  troupe::topic<tick> t;
  auto a = sys.spawn<listener>(in.ref(), "a");
  auto b = sys.spawn<listener>(in.ref(), "b");
  t.subscribe(a);
  t.subscribe(b);
  t.subscribe(a);  // twice is once
  EXPECT_EQ(t.size(), 2u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(t.publish(tick{i}), 2u);
  a.tell(flush{});
  b.tell(flush{});
  for (int i = 0; i < 2; ++i) EXPECT_EQ(next(in).detail, "100 ordered");
}

TEST(Topic, UnsubscribeStopsDelivery) {
  troupe::actor_system sys;
  events in(sys);
  troupe::topic<tick> t;
  auto a = sys.spawn<listener>(in.ref(), "a");
  t.subscribe(a);
  t.publish(tick{0});
  EXPECT_TRUE(t.unsubscribe(a));
  EXPECT_FALSE(t.unsubscribe(a));
  EXPECT_EQ(t.publish(tick{1}), 0u);
  a.tell(flush{});
  EXPECT_EQ(next(in).detail, "1 ordered");
}

TEST(Topic, StoppedSubscriberIsRemovedOnItsOwn) {
  troupe::actor_system sys;
  events in(sys);
  troupe::topic<tick> t;
  auto a = sys.spawn<listener>(in.ref(), "a");
  auto gone = sys.spawn<listener>(in.ref(), "gone");
  t.subscribe(a);
  t.subscribe(gone);
  gone.stop();
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, troupe::test::long_wait));
  EXPECT_EQ(t.publish(tick{0}), 1u);
  EXPECT_EQ(t.size(), 1u);
}

TEST(Topic, SlowSubscriberFollowsItsOwnPolicyWithoutStallingOthers) {
  troupe::actor_system sys;
  events in(sys);
  troupe::topic<tick> t;
  troupe::test::gate hold;
  troupe::test::gate_opener release(hold);
  auto fast = sys.spawn_with<listener>({.mailbox = troupe::mailbox_options::make_unbounded()}, in.ref(), "fast");
  auto slow = sys.spawn_with<listener>({.mailbox = {.capacity = 8, .policy = troupe::overflow::drop_newest}}, in.ref(),
                                       "slow", &hold);
  t.subscribe(fast);
  t.subscribe(slow);
  const int n = 1000;
  for (int i = 0; i < n; ++i) t.publish(tick{i});  // never blocks: slow drops what does not fit
  fast.tell(flush{});
  EXPECT_EQ(next(in).detail, std::to_string(n) + " ordered");  // while slow is still held
  hold.open();
  // Let it drain first: a flush sent into its full mailbox would be dropped too.
  ASSERT_TRUE(troupe::test::wait_until([&] { return slow.mailbox_depth() == 0; }, troupe::test::long_wait));
  slow.tell(flush{});
  const event e = next(in);
  const int got = std::stoi(e.detail);
  EXPECT_LE(got, 8 + 1);  // the one being handled plus a full mailbox
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::dropped_newest), static_cast<std::uint64_t>(n - got));
}

} // namespace
} // namespace toolkit
