#include "toolkit.hpp"

namespace toolkit {
namespace {

TEST(Monitor, DeliversExactlyOneDownWithReasonNormal) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto v = sys.spawn<victim>();
  const auto id = w.ask(watcher::watch{v}, 10s).get().value();
  v.tell(quit{});
  const event e = next(in);
  EXPECT_EQ(e.kind, "down");
  EXPECT_EQ(e.reason, troupe::exit_reason::normal);
  EXPECT_EQ(e.id, id);
  w.tell(flush{});
  EXPECT_EQ(next(in).kind, "flushed");  // nothing else arrived before the flush
}

TEST(Monitor, DownCarriesTheExceptionText) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto v = sys.spawn<victim>();
  (void)w.ask(watcher::watch{v}, 10s).get();
  v.tell(crash{"disk on fire"});
  const event e = next(in);
  EXPECT_EQ(e.reason, troupe::exit_reason::exception);
  EXPECT_EQ(e.detail, "disk on fire");
}

TEST(Monitor, ReportsStoppedAndKilled) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto a = sys.spawn<victim>();
  auto b = sys.spawn<victim>();
  (void)w.ask(watcher::watch{a}, 10s).get();
  (void)w.ask(watcher::watch{b}, 10s).get();
  a.stop();
  EXPECT_EQ(next(in).reason, troupe::exit_reason::stopped);
  b.kill();
  EXPECT_EQ(next(in).reason, troupe::exit_reason::killed);
}

TEST(Monitor, AlreadyGoneActorGivesDownAtOnce) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto v = sys.spawn<victim>();
  v.tell(crash{"early"});
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, troupe::test::long_wait));
  (void)w.ask(watcher::watch{v}, 10s).get();
  const event e = next(in);
  EXPECT_EQ(e.kind, "down");
  EXPECT_EQ(e.reason, troupe::exit_reason::exception);
  EXPECT_EQ(e.detail, "early");
}

TEST(Monitor, DemonitorCancelsTheDown) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto v = sys.spawn<victim>();
  const auto cancelled = w.ask(watcher::watch{v}, 10s).get().value();
  const auto kept = w.ask(watcher::watch{v}, 10s).get().value();
  w.tell(watcher::unwatch{cancelled});
  (void)w.ask(watcher::watch{sys.spawn<victim>()}, 10s).get();  // the unwatch has been handled
  v.tell(quit{});
  const event e = next(in);
  EXPECT_EQ(e.id, kept);
  w.tell(flush{});
  EXPECT_EQ(next(in).kind, "flushed");  // the cancelled monitor's down never came
}

TEST(Monitor, EveryWatcherOfManyGetsItsDown) {
  troupe::actor_system sys;
  events in(sys);
  const std::size_t n = troupe::test::scaled(200, 50);
  auto v = sys.spawn<victim>();
  std::vector<troupe::actor_ref<watcher>> ws;
  for (std::size_t i = 0; i < n; ++i) {
    ws.push_back(sys.spawn<watcher>(in.ref()));
    (void)ws.back().ask(watcher::watch{v}, 10s).get();
  }
  v.tell(crash{});
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(next(in).kind, "down");
}

/// Asks a worker jobs and reports, in the order it sees them, the worker's
/// `down` and each failed reply.
struct dispatcher : troupe::actor<dispatcher> {
  struct job {};
  struct thrower : troupe::actor<thrower> {
    int on(job) { throw std::runtime_error("job failed"); }
  };
  dispatcher(events_ref out, troupe::actor_ref<thrower> w, int jobs) : out_(std::move(out)), w_(std::move(w)), jobs_(jobs) {}
  void on_start() {
    monitor(w_);
    for (int i = 0; i < jobs_; ++i) {
      ask(w_, job{}, 10s, [this](troupe::result<int> r) {
        out_.tell(event{r.ok() ? "reply" : "failed", std::string(r.message()), troupe::exit_reason::normal, 0});
      });
    }
  }
  void on(const troupe::down& d) { out_.tell(event{"down", d.what, d.reason, d.monitor}); }
  events_ref out_;
  troupe::actor_ref<thrower> w_;
  int jobs_;
};

// A dispatcher routing on `down` must hear of the dead worker before the
// failed replies, or it sends their retries to the dead worker first. The
// worker throws on the first job; the second waits in its mailbox.
TEST(Monitor, TheDownArrivesBeforeTheFailedAsks) {
  for (int jobs : {1, 2}) {
    troupe::actor_system sys;
    events in(sys);
    auto w = sys.spawn<dispatcher::thrower>();
    auto d = sys.spawn<dispatcher>(in.ref(), w, jobs);
    const event first = next(in);
    EXPECT_EQ(first.kind, "down") << jobs << " jobs; first: " << first.kind << " " << first.detail;
    EXPECT_EQ(first.reason, troupe::exit_reason::exception);
    for (int i = 0; i < jobs; ++i) {
      const event e = next(in);
      EXPECT_EQ(e.kind, "failed") << e.detail;
    }
  }
}

} // namespace
} // namespace toolkit
