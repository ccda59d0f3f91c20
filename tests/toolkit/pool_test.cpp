#include "toolkit.hpp"

namespace toolkit {
namespace {

struct work {
  int n;
};
struct slow_work {
  int n;
};

std::atomic<int> running{0};
std::atomic<int> peak{0};

struct pooled_worker : troupe::actor<pooled_worker> {
  explicit pooled_worker(troupe::test::gate* hold) : hold_(hold) {}
  int on(work w) {
    if (w.n < 0) throw std::runtime_error("negative");
    return w.n * 2;
  }
  int on(slow_work w) {
    const int now = running.fetch_add(1) + 1;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    EXPECT_TRUE(hold_->wait_for(troupe::test::long_wait));
    running.fetch_sub(1);
    return w.n;
  }
  troupe::test::gate* hold_;
};

TEST(Pool, BoundsJobsInFlight) {
  running = 0;
  peak = 0;
  troupe::test::gate hold;
  troupe::test::gate_opener release(hold);
  // Two workers will block their threads: leave threads for the pool actor.
  troupe::actor_system sys({.threads = 4});
  auto pool = sys.spawn<troupe::worker_pool<pooled_worker>>(
      troupe::worker_pool_options{.workers = 4, .max_in_flight = 2}, &hold);
  std::vector<troupe::ask_future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.ask(slow_work{i}, 30s));
  // Two jobs start and block; the pool holds the other eight.
  ASSERT_TRUE(troupe::test::wait_until([&] { return running.load() == 2; }, troupe::test::long_wait));
  auto st = pool.ask(troupe::worker_pool<pooled_worker>::stats_request{}, 10s).get().value();
  EXPECT_EQ(st.in_flight, 2u);
  EXPECT_EQ(st.waiting, 8u);
  hold.open();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(fs[i].get().value(), i);
  EXPECT_LE(peak.load(), 2);
}

TEST(Pool, CrashedWorkerIsReplacedAndEveryJobAnsweredOnce) {
  troupe::test::gate unused;
  troupe::actor_system sys;
  auto pool = sys.spawn<troupe::worker_pool<pooled_worker>>(
      troupe::worker_pool_options{.workers = 3, .max_in_flight = 4, .max_restarts = 1000}, &unused);
  const int n = static_cast<int>(troupe::test::scaled(600, 120));
  std::vector<troupe::ask_future<int>> fs;
  for (int i = 0; i < n; ++i) fs.push_back(pool.ask(work{i % 5 == 0 ? -1 : i}, 30s));
  int ok = 0, crashed = 0;
  for (int i = 0; i < n; ++i) {
    auto r = fs[i].get();
    if (i % 5 == 0) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error(), troupe::ask_error::exception);
      ++crashed;
    } else {
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(*r, 2 * i);
      ++ok;
    }
  }
  EXPECT_EQ(ok + crashed, n);
  EXPECT_GE(sys.stats().failed, static_cast<std::uint64_t>(crashed));
  EXPECT_EQ(pool.ask(work{21}, 10s).get().value(), 42);  // still serving
}

using pool_t = troupe::worker_pool<pooled_worker>;
using downs_ref = troupe::actor_ref<troupe::inbox<troupe::down>::actor_type>;

/// Monitors a pool from its construction and passes the down on.
struct pool_watcher : troupe::actor<pool_watcher> {
  pool_watcher(const troupe::actor_ref<pool_t>& pool, downs_ref out) : out_(std::move(out)) { this->monitor(pool); }
  void on(troupe::down d) { out_.tell(std::move(d)); }
  downs_ref out_;
};

TEST(Pool, APoolWhoseSupervisorGivesUpStopsWithItsReason) {
  // Before, the pool outlived its supervisor: it took every job and failed
  // each with "receiver stopped", and nobody watching it heard anything.
  troupe::test::gate unused;
  troupe::actor_system sys;
  auto pool = sys.spawn<pool_t>(
      troupe::worker_pool_options{.workers = 2, .max_in_flight = 2, .max_restarts = 3, .window = 60s}, &unused);
  troupe::inbox<troupe::down> downs(sys);
  sys.spawn<pool_watcher>(pool, downs.ref());
  // Every job crashes its worker: the fourth restart in the window is one too many.
  for (int i = 0; i < 8; ++i) (void)pool.ask(work{-1}, 10s).get();
  auto d = downs.receive(10s);
  ASSERT_TRUE(d.has_value()) << "the pool stayed up with no workers";
  EXPECT_EQ(d->reason, troupe::exit_reason::exception);
  EXPECT_NE(d->what.find("restart intensity"), std::string::npos) << d->what;
  EXPECT_EQ(pool.tell(work{1}), troupe::send_result::dead);
}

TEST(Pool, RejectsZeroSizes) {
  troupe::test::gate unused;
  troupe::actor_system sys;
  EXPECT_THROW(sys.spawn<troupe::worker_pool<pooled_worker>>(troupe::worker_pool_options{.workers = 0}, &unused),
               std::invalid_argument);
  EXPECT_THROW(sys.spawn<troupe::worker_pool<pooled_worker>>(troupe::worker_pool_options{.max_in_flight = 0}, &unused),
               std::invalid_argument);
}

} // namespace
} // namespace toolkit
