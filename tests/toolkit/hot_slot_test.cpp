#include "toolkit.hpp"

namespace toolkit {
namespace {

struct wake_up {};

/// Opens `ran` when it runs.
struct sleeper_b : troupe::actor<sleeper_b> {
  explicit sleeper_b(troupe::test::gate* ran) : ran_(ran) {}
  void on(wake_up) { ran_->open(); }
  troupe::test::gate* ran_;
};

/// Wakes B (which lands in this worker's hot slot), then stays in its turn
/// until B has run: only another worker can run B meanwhile.
struct long_turn : troupe::actor<long_turn> {
  long_turn(troupe::actor_ref<sleeper_b> b, troupe::test::gate* ran, events_ref out)
      : b_(std::move(b)), ran_(ran), out_(std::move(out)) {}
  void on(ping) {
    b_.tell(wake_up{});
    const bool ok = ran_->wait_for(troupe::test::long_wait);
    out_.tell(event{ok ? "ran" : "starved", "", {}, 0});
  }
  troupe::actor_ref<sleeper_b> b_;
  troupe::test::gate* ran_;
  events_ref out_;
};

TEST(Scheduler, ActorInTheHotSlotOfALongTurnIsRunByAnotherWorker) {
  troupe::test::gate ran;
  troupe::test::gate_opener release(ran);
  troupe::actor_system sys({.threads = 2});
  events in(sys);
  auto b = sys.spawn<sleeper_b>(&ran);
  auto a = sys.spawn<long_turn>(b, &ran, in.ref());
  // Let both workers go to their deep sleep first (no hot slot in use).
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().pool.parks >= 2; }, troupe::test::long_wait));
  const auto t0 = std::chrono::steady_clock::now();
  a.tell(ping{});
  EXPECT_EQ(next(in).kind, "ran");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // milliseconds in practice; generous
}

} // namespace
} // namespace toolkit
