#pragma once
/// @file A pool of N supervised workers with a bound on jobs in flight:
/// the actor way to do what a semaphore does.
///
/// ```
/// auto pool = sys.spawn<troupe::worker_pool<hasher>>(troupe::worker_pool_options{.workers = 4, .max_in_flight = 8});
/// troupe::result<digest> d = pool.ask(file{"a.bin"}, 5s).get();
/// ```
/// Jobs are asks (the reply tells the pool a job is done). At most
/// `max_in_flight` jobs run at once; later ones wait in the pool, in order.
/// Each job goes to the worker with the fewest jobs in flight. Workers are
/// supervised (one_for_one, permanent): one that throws is restarted in
/// place, the job that crashed it is answered with `ask_error::exception`,
/// and the pool keeps answering. When the workers' supervisor gives up
/// (more than `max_restarts` in `window`) the pool has no workers left: it
/// fails too (exit_reason::exception, logged, the supervisor's reason in
/// its `what`), so its monitors, links and own supervisor see it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/promise.hpp"
#include "troupe/actors/signals.hpp"
#include "troupe/actors/supervisor.hpp"

namespace troupe {

struct worker_pool_options {
  std::size_t workers = 4;
  /// Jobs running at once (at least 1).
  std::size_t max_in_flight = 16;
  /// A job not answered within this is failed with `ask_error::timeout`.
  std::chrono::milliseconds job_timeout{30'000};
  /// Restart policy for crashing workers.
  std::size_t max_restarts = 100;
  std::chrono::milliseconds window{1000};
};

template <class W>
class worker_pool : public actor<worker_pool<W>> {
 public:
  /// Spawns `opts.workers` workers of type W built from copies of `args`.
  /// @throws std::invalid_argument for zero workers or max_in_flight.
  template <class... Args>
  explicit worker_pool(worker_pool_options opts, Args... args) : opts_(opts) {
    if (opts.workers == 0) throw std::invalid_argument("worker_pool_options: workers must be at least 1");
    if (opts.max_in_flight == 0) throw std::invalid_argument("worker_pool_options: max_in_flight must be at least 1");
    std::vector<child_spec> specs;
    for (std::size_t i = 0; i < opts.workers; ++i) {
      specs.push_back(child_spec::of<W>("worker-" + std::to_string(i), restart::permanent, args...));
    }
    auto sup = spawn_supervisor(this->self().cell()->system(),
                                supervisor_options{.how = strategy::one_for_one, .max_restarts = opts.max_restarts,
                                                   .window = opts.window},
                                std::move(specs));
    sup_ = std::move(sup.ref);
    sup_watch_ = this->monitor(sup_);
    for (const auto& [name, ref] : sup.children->list) workers_.push_back(slot{ref.template as<W>(), 0});
  }

  /// The workers' supervisor stopped (it gave up): no worker is left, so
  /// the pool stops as well, abnormally unless the supervisor stopped
  /// normally. @throws std::runtime_error (the pool fails, logged)
  void on(const down& d) {
    if (d.monitor != sup_watch_) return;
    if (d.reason == exit_reason::normal) return this->stop();
    throw std::runtime_error("worker_pool: the workers' supervisor stopped (" + std::string(to_string(d.reason)) +
                             (d.what.empty() ? std::string() : ": " + d.what) + "); no worker is left");
  }

  /// A job: runs on a worker when a place is free; answered with the worker's reply.
  template <class M>
    requires handles<W, M> && (!std::is_void_v<reply_t<W, M>>)
  promise<reply_t<W, M>> on(M job) {
    using R = reply_t<W, M>;
    auto p = this->template make_promise<R>();
    auto held = std::make_shared<M>(std::move(job));  // std::function needs a copyable callable
    auto run = [this, held, p]() {
      slot& s = *std::min_element(workers_.begin(), workers_.end(),
                                  [](const slot& a, const slot& b) { return a.in_flight < b.in_flight; });
      ++s.in_flight;
      ++in_flight_;
      this->ask(s.ref, std::move(*held), opts_.job_timeout, [this, &s, p](result<R> r) {
        --s.in_flight;
        --in_flight_;
        p.settle(std::move(r));
        dispatch();
      });
    };
    waiting_.emplace_back(std::move(run));
    dispatch();
    return p;
  }

  /// Jobs running now and waiting now (for tests and metrics).
  struct stats_request {};
  struct pool_stats {
    std::size_t in_flight;
    std::size_t waiting;
  };
  pool_stats on(stats_request) const { return {in_flight_, waiting_.size()}; }

  void on_stop() { sup_.stop(); }

 private:
  struct slot {
    actor_ref<W> ref;
    std::size_t in_flight;
  };
  void dispatch() {
    while (in_flight_ < opts_.max_in_flight && !waiting_.empty()) {
      auto job = std::move(waiting_.front());
      waiting_.pop_front();
      job();
    }
  }

  worker_pool_options opts_;
  actor_ref<supervisor> sup_;
  std::uint64_t sup_watch_ = 0;
  std::vector<slot> workers_;
  std::deque<std::function<void()>> waiting_;
  std::size_t in_flight_ = 0;
};

} // namespace troupe
