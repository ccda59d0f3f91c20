#include "toolkit.hpp"

namespace toolkit {
namespace {

struct idle {};
struct poke {};

struct dozer : troupe::actor<dozer> {
  explicit dozer(events_ref out) : out_(std::move(out)) {}
  void on_start() { set_idle_timeout(50ms, idle{}); }
  void on(poke) {}
  void on(idle) { out_.tell(event{"idle", "", {}, 0}); }
  events_ref out_;
};

TEST(Timer, IdleTimeoutFiresOnlyAfterSilence) {
  troupe::actor_system sys;
  events in(sys);
  const auto t0 = std::chrono::steady_clock::now();
  auto d = sys.spawn<dozer>(in.ref());
  EXPECT_EQ(next(in).kind, "idle");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
  // Keep it busy for a while: pokes every 10 ms postpone the idle message.
  const auto busy_from = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - busy_from < 200ms) {
    d.tell(poke{});
    std::this_thread::sleep_for(10ms);  // paces the load; nothing waits on it
  }
  const auto quiet_from = std::chrono::steady_clock::now();
  EXPECT_EQ(next(in).kind, "idle");
  EXPECT_GE(std::chrono::steady_clock::now() - quiet_from, 20ms);
}

TEST(Timer, IdleTimeoutRejectsNonPositivePeriods) {
  struct bad : troupe::actor<bad> {
    void on_start() { set_idle_timeout(0ms, idle{}); }
    void on(idle) {}
  };
  troupe::actor_system sys;
  sys.spawn<bad>();
  EXPECT_TRUE(troupe::test::wait_until([&] { return sys.stats().failed == 1; }, troupe::test::long_wait));
}

} // namespace
} // namespace toolkit
