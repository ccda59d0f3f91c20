// process_pool: CPU-bound jobs fanned out to worker processes through a
// troupe::process_pool. One worker is killed (SIGKILL) in the middle of the
// run; the pool notices, starts a replacement and sends the jobs that
// worker held to the others. At the end every job has been answered exactly
// once.
//
//   process_pool [jobs] [workers]      (default 60 jobs, 3 workers)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <troupe/troupe.hpp>

#include "jobs.pb.h"

using namespace std::chrono_literals;

// -- the worker side -------------------------------------------------------------

/// Runs in each worker process: counts primes, the slow way.
struct cruncher : troupe::actor<cruncher> {
  using remote_interface = troupe::accepts<pool::Job>;
  pool::Answer on(pool::Job j) {
    std::int64_t count = 0;
    for (std::int64_t k = 2; k < j.n(); ++k) {
      bool prime = true;
      for (std::int64_t d = 2; d * d <= k; ++d) {
        if (k % d == 0) {
          prime = false;
          break;
        }
      }
      count += prime ? 1 : 0;
    }
    pool::Answer a;
    a.set_id(j.id());
    a.set_primes(count);
    a.set_pid(::getpid());
    return a;
  }
};

// -- the parent side ---------------------------------------------------------------

using crunchers = troupe::process_pool<cruncher>;

int main(int argc, char** argv) {
  // The same program is the worker: run it when spawned as one.
  if (auto rc = troupe::run_worker_if_asked(argc, argv, [](troupe::actor_system& sys, troupe::node& n, const auto&) {
        n.publish("root", sys.spawn<cruncher>());
      })) {
    return *rc;
  }
  const std::int64_t jobs = argc > 1 ? std::stoll(argv[1]) : 60;
  const std::size_t workers = argc > 2 ? std::stoul(argv[2]) : 3;
  setenv("TROUPE_COOKIE", ("troupe-process-pool-" + std::to_string(getpid())).c_str(), 0);

  troupe::actor_system sys;
  troupe::node node(sys, {.name = "pool", .listen = false});
  auto pool = sys.spawn<crunchers>(node, troupe::process_pool_options{.workers = workers, .max_in_flight = 2 * workers});
  auto stats = [&] { return pool.ask(crunchers::stats_request{}, 10s).get().value(); };
  while (stats().pids.size() < workers) {
    if (!sys.await_stopped(pool, 50ms).has_value()) continue;
    std::fprintf(stderr, "process_pool: the pool failed to start its workers\n");
    return 1;
  }
  for (int pid : stats().pids) std::printf("worker process %d started\n", pid);

  std::vector<troupe::ask_future<pool::Answer>> answers;
  for (std::int64_t id = 0; id < jobs; ++id) {
    pool::Job j;
    j.set_id(id);
    j.set_n(60'000 + (id % 7) * 10'000);
    answers.push_back(pool.ask(j, 60s));
  }

  std::map<int, int> by_pid;
  std::int64_t answered = 0;
  bool right = true;
  for (std::int64_t id = 0; id < jobs; ++id) {
    auto a = answers[static_cast<std::size_t>(id)].get();  // one result per job: answered once
    if (!a.ok() || a.value().id() != id) {
      std::fprintf(stderr, "process_pool: job %lld: %s\n", static_cast<long long>(id),
                   a.ok() ? "a wrong answer" : std::string(a.message()).c_str());
      right = false;
      continue;
    }
    ++by_pid[a.value().pid()];
    if (++answered % 10 == 0) std::printf("%lld of %lld jobs answered\n", static_cast<long long>(answered),
                                          static_cast<long long>(jobs));
    if (answered == jobs / 3) {
      const int victim = stats().pids.front();
      std::printf("killing worker process %d (SIGKILL) in the middle of the run\n", victim);
      ::kill(victim, SIGKILL);
    }
  }
  const auto s = stats();
  std::printf("the pool replaced %llu worker process(es), starting a replacement each time, and sent %llu job(s) "
              "again\n", static_cast<unsigned long long>(s.replaced), static_cast<unsigned long long>(s.retried));
  std::string who;
  for (auto& [pid, n] : by_pid) who += " " + std::to_string(pid) + ":" + std::to_string(n);
  std::printf("%lld jobs, %s (answers per worker process:%s)\n", static_cast<long long>(jobs),
              right ? "every job answered exactly once" : "SOME JOB WAS NOT ANSWERED RIGHT", who.c_str());
  return right && s.replaced >= 1 ? 0 : 1;
}
