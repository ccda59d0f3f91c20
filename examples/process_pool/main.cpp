// process_pool: CPU-bound jobs fanned out to worker processes. One worker
// is killed (SIGKILL) in the middle of the run; the dispatcher notices
// (its monitor gets `down` with the signal), gives that worker's jobs to
// the others, asks main for a replacement, and goes on. At the end every
// job has been answered exactly once.
//
//   process_pool [jobs] [workers]      (default 60 jobs, 3 workers)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <set>
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

/// What the dispatcher tells main.
struct event {
  enum kind { progress, need_worker, finished } what;
  std::int64_t answered = 0;
  std::string detail;
};
using events_ref = troupe::actor_ref<troupe::inbox<event>::actor_type>;

/// Hands jobs to workers, two at a time each; a worker that goes down gets
/// its jobs taken back and handed to the others.
struct dispatcher : troupe::actor<dispatcher> {
  dispatcher(events_ref out, std::int64_t jobs) : out_(std::move(out)), total_(jobs) {
    for (std::int64_t id = 0; id < jobs; ++id) todo_.push_back(id);
  }
  void on(troupe::actor_ref<cruncher> w) {  // a new worker
    workers_[monitor(w)] = slot{w, {}};
    feed();
  }
  void on(troupe::down d) {
    auto it = workers_.find(d.monitor);
    if (it == workers_.end()) return;
    for (std::int64_t id : it->second.busy) todo_.push_front(id);  // taken back, done elsewhere
    const auto lost = it->second.busy.size();
    workers_.erase(it);
    out_.tell(event{event::need_worker, answered_, d.what + "; " + std::to_string(lost) + " jobs handed back"});
    feed();
  }

  void feed() {
    for (auto& [mon, s] : workers_) {
      while (s.busy.size() < 2 && !todo_.empty()) {
        const std::int64_t id = todo_.front();
        todo_.pop_front();
        s.busy.insert(id);
        pool::Job j;
        j.set_id(id);
        j.set_n(60'000 + (id % 7) * 10'000);
        const std::uint64_t m = mon;
        ask(s.ref, j, 30s, [this, m, id](troupe::result<pool::Answer> r) { done(m, id, std::move(r)); });
      }
    }
  }
  void done(std::uint64_t mon, std::int64_t id, troupe::result<pool::Answer> r) {
    auto it = workers_.find(mon);
    if (it != workers_.end()) it->second.busy.erase(id);
    if (!r.ok()) {
      // The worker went down with this job: `down` has handed it back already.
      if (it != workers_.end()) todo_.push_front(id);
      feed();
      return;
    }
    ++answers_[id];
    ++answered_;
    by_pid_[r.value().pid()]++;
    if (answered_ % 10 == 0) out_.tell(event{event::progress, answered_, {}});
    if (static_cast<std::int64_t>(answers_.size()) == total_) {
      bool once = true;
      for (auto& [job, n] : answers_) once = once && n == 1;
      std::string who;
      for (auto& [pid, n] : by_pid_) {
        who += ' ';
        who += std::to_string(pid);
        who += ':';
        who += std::to_string(n);
      }
      std::string summary = once ? "every job answered exactly once" : "SOME JOB WAS ANSWERED TWICE";
      summary += " (answers per worker process:";
      summary += who;
      summary += ")";
      out_.tell(event{event::finished, answered_, std::move(summary)});
      return;
    }
    feed();
  }

  struct slot {
    troupe::actor_ref<cruncher> ref;
    std::set<std::int64_t> busy;
  };
  events_ref out_;
  std::int64_t total_;
  std::int64_t answered_ = 0;
  std::deque<std::int64_t> todo_;
  std::map<std::uint64_t, slot> workers_;  // by monitor id
  std::map<std::int64_t, int> answers_;
  std::map<int, int> by_pid_;
};

int main(int argc, char** argv) {
  // The same program is the worker: run it when spawned as one.
  if (auto rc = troupe::run_worker_if_asked(argc, argv, [](troupe::actor_system& sys, troupe::node& n, const auto&) {
        n.publish("root", sys.spawn<cruncher>());
      })) {
    return *rc;
  }
  const std::int64_t jobs = argc > 1 ? std::stoll(argv[1]) : 60;
  const int workers = argc > 2 ? std::stoi(argv[2]) : 3;
  setenv("TROUPE_COOKIE", ("troupe-process-pool-" + std::to_string(getpid())).c_str(), 0);

  troupe::actor_system sys;
  troupe::node node(sys, {.name = "pool", .listen = false});
  troupe::inbox<event> in(sys);
  auto d = sys.spawn<dispatcher>(in.ref(), jobs);

  std::vector<int> pids;
  auto start_worker = [&] {
    auto w = troupe::spawn_worker<cruncher>(node);
    if (!w.ok()) {
      std::fprintf(stderr, "process_pool: %s\n", std::string(w.message()).c_str());
      std::exit(1);
    }
    pids.push_back(w.value().pid);
    std::printf("worker process %d started\n", w.value().pid);
    d.tell(w.value().root);
  };
  for (int i = 0; i < workers; ++i) start_worker();

  bool killed = false;
  for (;;) {
    auto e = in.receive(60s);
    if (!e) {
      std::fprintf(stderr, "process_pool: no progress for 60 s\n");
      return 1;
    }
    if (e->what == event::progress) {
      std::printf("%lld of %lld jobs answered\n", static_cast<long long>(e->answered), static_cast<long long>(jobs));
      if (!killed && e->answered >= jobs / 3) {
        killed = true;
        std::printf("killing worker process %d (SIGKILL) in the middle of the run\n", pids.front());
        ::kill(pids.front(), SIGKILL);
      }
    } else if (e->what == event::need_worker) {
      std::printf("the dispatcher saw a worker go: %s; starting a replacement\n", e->detail.c_str());
      start_worker();
    } else {
      std::printf("%lld jobs, %s\n", static_cast<long long>(jobs), e->detail.c_str());
      return e->detail.rfind("every job answered exactly once", 0) == 0 ? 0 : 1;
    }
  }
}
