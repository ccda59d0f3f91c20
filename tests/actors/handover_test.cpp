// A handover stop (the cluster's passivation): the user messages still
// queued when the actor stops go to the taker instead of being dead
// letters; without a taker (a plain stop) they are dead letters.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "support/test_support.hpp"
#include "troupe/troupe.hpp"

namespace {

using namespace std::chrono_literals;

/// Blocks in its first message until the gate opens; counts the rest.
struct held : troupe::actor<held> {
  held(troupe::test::gate* entered, troupe::test::gate* release) : entered_(entered), release_(release) {}
  void on(int n) {
    if (n == 0) {
      entered_->open();
      (void)release_->wait_for(20s);
    }
  }
  troupe::test::gate* entered_;
  troupe::test::gate* release_;
};

/// Queues three messages behind a blocked handler, then stops the actor
/// with `stop` (enqueued on the system lane: it runs before them).
std::uint64_t stop_with_three_queued(troupe::actor_system& sys, troupe::detail::envelope* stop) {
  troupe::test::gate entered, release;
  troupe::test::gate_opener opener(release);
  auto a = sys.spawn<held>(&entered, &release);
  a.tell(0);
  EXPECT_TRUE(entered.wait_for(20s));
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(a.tell(i), troupe::send_result::ok);
  a.cell()->enqueue_system(stop);
  release.open();
  EXPECT_TRUE(troupe::test::wait_until([&] { return a.metrics().closed; }, 20s));
  return a.metrics().depth;
}

} // namespace

TEST(HandoverStop, MessagesQueuedAtTheStopGoToTheTakerNotToDeadLetters) {
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  std::mutex mx;
  std::vector<int> taken;
  const auto dead_before = sys.stats().dead(troupe::drop_reason::receiver_stopped);
  (void)stop_with_three_queued(sys, troupe::detail::make_handover_stop_envelope([&](troupe::detail::envelope* e) {
    std::lock_guard lock(mx);
    taken.push_back(static_cast<troupe::detail::message_envelope<int>*>(e)->value);
    e->ops->destroy(e);
    return true;
  }));
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        std::lock_guard lock(mx);
        return taken.size() == 3;
      },
      20s));
  EXPECT_EQ(taken, (std::vector<int>{1, 2, 3})) << "in order";
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::receiver_stopped), dead_before);
}

TEST(HandoverStop, APlainStopMakesThemDeadLetters) {
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  const auto dead_before = sys.stats().dead(troupe::drop_reason::receiver_stopped);
  (void)stop_with_three_queued(sys, troupe::detail::make_stop_envelope(troupe::exit_reason::stopped));
  EXPECT_TRUE(troupe::test::wait_until(
      [&] { return sys.stats().dead(troupe::drop_reason::receiver_stopped) == dead_before + 3; }, 20s));
}
