// process_pool: jobs answered by worker processes of this very test
// binary (worker_test.cpp's main runs them), within the bound on jobs in
// flight; a worker killed with SIGKILL is replaced and its jobs are retried
// or failed, as the pool was told; every job is answered exactly once.
#include <signal.h>
#include <unistd.h>

#include <set>
#include <thread>
#include <vector>

#include "process_probe.hpp"
#include "transport_fixture.hpp"

namespace transport_test {

/// The root of the pool's worker processes. An `Add{a, b}` answers the
/// worker's pid: at once for b > 0, after -b ms for b < 0; b == 0 makes
/// the process exit with code a (a job that kills its worker).
struct pool_worker : troupe::actor<pool_worker> {
  using remote_interface = troupe::accepts<troupe_test::Add>;
  troupe_test::Sum on(troupe_test::Add a) {
    if (a.b() == 0) std::_Exit(static_cast<int>(a.a()));
    if (a.b() < 0) std::this_thread::sleep_for(std::chrono::milliseconds(-a.b()));  // a slow job, on purpose
    troupe_test::Sum s;
    s.set_value(::getpid());
    return s;
  }
};

void publish_pool_worker(troupe::actor_system& sys, troupe::node& n) { n.publish("pool-root", sys.spawn<pool_worker>()); }

namespace {

using pool = troupe::process_pool<pool_worker>;

troupe_test::Add job(std::int64_t b, std::int64_t a = 1) {
  troupe_test::Add m;
  m.set_a(a);
  m.set_b(b);
  return m;
}

class process_pools : public ::testing::Test {
 protected:
  void SetUp() override { n = std::make_unique<troupe::node>(sys, node_opts("pool-parent")); }
  void TearDown() override { n.reset(); }
  troupe::process_pool_options options(std::size_t workers, std::size_t in_flight) {
    troupe::process_pool_options o;
    o.workers = workers;
    o.max_in_flight = in_flight;
    o.worker.root = "pool-root";
    return o;
  }
  pool::stats stats_of(const troupe::actor_ref<pool>& p) { return p.ask(pool::stats_request{}, 10s).get().value(); }
  /// Waits until the pool has `workers` live processes and `in_flight` jobs running.
  bool wait_for(const troupe::actor_ref<pool>& p, std::size_t workers, std::size_t in_flight) {
    return troupe::test::wait_until(
        [&] {
          auto s = stats_of(p);
          return s.pids.size() == workers && s.in_flight == in_flight;
        },
        troupe::test::long_wait);
  }
  troupe::actor_system sys{two_threads()};
  std::unique_ptr<troupe::node> n;
};

TEST_F(process_pools, EveryJobIsAnsweredByAWorkerProcessWithinTheBound) {
  auto p = sys.spawn<pool>(*n, options(2, 3));
  ASSERT_TRUE(wait_for(p, 2, 0));
  std::vector<troupe::ask_future<troupe_test::Sum>> answers;
  for (int i = 0; i < 12; ++i) answers.push_back(p.ask(job(-300), 30s));
  ASSERT_TRUE(wait_for(p, 2, 3)) << "three run at once";
  auto running = stats_of(p);
  EXPECT_EQ(running.in_flight, 3u);
  EXPECT_LE(running.waiting, 9u);
  std::set<std::int64_t> pids;
  for (auto& a : answers) {
    auto r = a.get();
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_NE(r.value().value(), ::getpid());
    pids.insert(r.value().value());
  }
  EXPECT_EQ(pids.size(), 2u) << "both worker processes took jobs";
  auto s = stats_of(p);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.replaced, 0u);
}

TEST_F(process_pools, AKilledWorkerIsReplacedAndTheJobsItHeldAreRetried) {
  auto p = sys.spawn<pool>(*n, options(2, 4));
  ASSERT_TRUE(wait_for(p, 2, 0));
  std::vector<troupe::ask_future<troupe_test::Sum>> answers;
  for (int i = 0; i < 4; ++i) answers.push_back(p.ask(job(-2000), 60s));  // two on each worker, held a while
  ASSERT_TRUE(wait_for(p, 2, 4));
  const int victim = stats_of(p).pids.front();
  ::kill(victim, SIGKILL);
  std::set<std::int64_t> answered_by;
  for (auto& a : answers) {
    auto r = a.get();
    ASSERT_TRUE(r.ok()) << r.message();
    answered_by.insert(r.value().value());
  }
  EXPECT_EQ(answered_by.count(victim), 0u);
  ASSERT_TRUE(troupe::test::wait_until([&] { return stats_of(p).pids.size() == 2; }, troupe::test::long_wait));
  auto s = stats_of(p);
  EXPECT_EQ(s.replaced, 1u);
  EXPECT_EQ(s.retried, 2u);
  EXPECT_EQ(std::count(s.pids.begin(), s.pids.end(), victim), 0);
  EXPECT_TRUE(process_gone(victim));
}

TEST_F(process_pools, WithFailTheJobsOfAKilledWorkerAreAnsweredNodeDown) {
  auto o = options(2, 4);
  o.on_loss = troupe::lost_job::fail;
  auto p = sys.spawn<pool>(*n, o);
  ASSERT_TRUE(wait_for(p, 2, 0));
  std::vector<troupe::ask_future<troupe_test::Sum>> answers;
  for (int i = 0; i < 4; ++i) answers.push_back(p.ask(job(-2000), 60s));
  ASSERT_TRUE(wait_for(p, 2, 4));
  const int victim = stats_of(p).pids.front();
  ::kill(victim, SIGKILL);
  int failed = 0;
  for (auto& a : answers) {
    auto r = a.get();
    if (r.ok()) {
      EXPECT_NE(r.value().value(), victim);
    } else {
      EXPECT_EQ(r.error(), troupe::ask_error::node_down) << r.message();
      ++failed;
    }
  }
  EXPECT_EQ(failed, 2);
  EXPECT_EQ(stats_of(p).retried, 0u);
  EXPECT_TRUE(p.ask(job(1), 30s).get().ok()) << "the pool goes on";
}

TEST_F(process_pools, AJobThatKillsEveryWorkerIsRetriedAtMostMaxRetriesTimes) {
  auto o = options(1, 1);
  o.max_retries = 2;
  auto p = sys.spawn<pool>(*n, o);
  ASSERT_TRUE(wait_for(p, 1, 0));
  auto r = p.ask(job(0, 7), 60s).get();  // each worker that takes it exits with code 7
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::ask_error::node_down);
  ASSERT_TRUE(troupe::test::wait_until([&] { return stats_of(p).pids.size() == 1; }, troupe::test::long_wait));
  auto s = stats_of(p);
  EXPECT_EQ(s.retried, 2u);
  EXPECT_EQ(s.replaced, 3u);
  EXPECT_TRUE(p.ask(job(1), 30s).get().ok());
}

TEST_F(process_pools, StoppingThePoolEndsItsWorkerProcesses) {
  auto p = sys.spawn<pool>(*n, options(2, 2));
  ASSERT_TRUE(wait_for(p, 2, 0));
  const auto pids = stats_of(p).pids;
  p.stop();
  ASSERT_TRUE(sys.await_stopped(p, troupe::test::long_wait));
  for (int pid : pids) EXPECT_TRUE(troupe::test::wait_until([&] { return process_gone(pid); }, troupe::test::long_wait));
}

TEST_F(process_pools, APoolWhoseWorkersCannotStartFailsWithTheReason) {
  auto o = options(1, 1);
  o.worker.executable = "/nonexistent/troupe-worker";
  o.max_restarts = 2;
  auto p = sys.spawn<pool>(*n, o);
  auto d = sys.await_stopped(p, troupe::test::long_wait);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, troupe::exit_reason::exception);
  EXPECT_NE(d->what.find("a worker process did not start"), std::string::npos) << d->what;
}

TEST_F(process_pools, BadOptionsAreRefusedWhereTheyAreGiven) {
  auto o = options(0, 1);
  EXPECT_THROW(sys.spawn<pool>(*n, o), std::invalid_argument);
  o = options(1, 0);
  EXPECT_THROW(sys.spawn<pool>(*n, o), std::invalid_argument);
  o = options(1, 1);
  o.job_timeout = 0ms;
  EXPECT_THROW(sys.spawn<pool>(*n, o), std::invalid_argument);
}

} // namespace
} // namespace transport_test
