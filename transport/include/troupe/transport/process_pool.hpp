#pragma once
/// @file A pool of worker processes with the contract of `worker_pool`:
/// a bound on jobs in flight, a worker that dies replaced, every job
/// answered exactly once.
///
/// ```
/// troupe::node node(sys, {.name = "parent", .listen = false});
/// auto pool = sys.spawn<troupe::process_pool<cruncher>>(node, troupe::process_pool_options{.workers = 4});
/// troupe::result<Answer> a = pool.ask(job, 30s).get();
/// ```
/// The program must start with `troupe::run_worker_if_asked` publishing an
/// A as the workers' root (see worker.hpp). Jobs are asks of protobuf (or
/// codec) messages in A's `remote_interface`; at most `max_in_flight` run
/// at once, the rest wait in the pool, in order, and each goes to the live
/// worker with the fewest jobs. When a worker process dies (killed, crashed,
/// its link lost for good) the pool starts another, and each job it held
/// is sent again to a live worker (`lost_job::retry`, at most `max_retries`
/// times: a job that kills every worker it reaches is not retried for ever)
/// or answered with `ask_error::node_down` (`lost_job::fail`). A job the
/// worker answered with an error, or that timed out, is answered with it
/// and not retried: it may have run. Replacements count against
/// `max_restarts` in `window`, failed starts too; one more and the pool
/// fails (logged, its monitors and supervisor see it). Stopping the pool
/// ends its worker processes; jobs still waiting are answered
/// `actor_stopped`. The node should outlive the pool; when it shuts down
/// first, the pool stops (normally) instead of replacing its workers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/promise.hpp"
#include "troupe/actors/signals.hpp"
#include "troupe/detail/logger.hpp"
#include "troupe/transport/worker.hpp"

namespace troupe {

/// What happens to a job whose worker process died before answering.
enum class lost_job : unsigned char {
  retry,  ///< sent again to a live worker (at most max_retries times)
  fail,   ///< answered with ask_error::node_down
};

struct process_pool_options {
  std::size_t workers = 2;
  /// Jobs running at once, in all workers (at least 1).
  std::size_t max_in_flight = 16;
  /// A job not answered within this is answered with `ask_error::timeout`.
  std::chrono::milliseconds job_timeout{30'000};
  lost_job on_loss = lost_job::retry;
  /// Sends of one job after the first, when workers die under it.
  std::size_t max_retries = 2;
  /// Worker processes replaced (or failing to start) within `window`
  /// before the pool gives up and fails.
  std::size_t max_restarts = 10;
  std::chrono::milliseconds window{10'000};
  /// How each worker process is started (root name, program, link).
  worker_options worker{};

  /// @throws std::invalid_argument for zero workers or max_in_flight, or a
  /// non-positive timeout or window.
  void validate() const {
    if (workers == 0) throw std::invalid_argument("process_pool_options: workers must be at least 1");
    if (max_in_flight == 0) throw std::invalid_argument("process_pool_options: max_in_flight must be at least 1");
    if (job_timeout.count() <= 0) throw std::invalid_argument("process_pool_options: job_timeout must be positive");
    if (window.count() <= 0) throw std::invalid_argument("process_pool_options: window must be positive");
    if (worker.start_timeout.count() < 0) {
      throw std::invalid_argument("process_pool_options: worker.start_timeout must not be negative");
    }
  }
};

template <class A>
class process_pool : public actor<process_pool<A>> {
 public:
  /// @throws std::invalid_argument for bad options.
  process_pool(node& n, process_pool_options opts) : node_(n), opts_(std::move(opts)) { opts_.validate(); }

  void on_start() {
    for (std::size_t i = 0; i < opts_.workers; ++i) start_one();
  }

  /// A job: runs in a worker process when a place is free; answered with its reply.
  template <class M>
    requires handles<A, M> && (!std::is_void_v<reply_t<A, M>>)
  promise<reply_t<A, M>> on(M job) {
    static_assert(detail::crosses_to<A, M>(),
                  "troupe: a process_pool job must cross to the worker process: a protobuf message (or a type "
                  "with a codec) listed in the worker's remote_interface");
    static_assert(std::is_copy_constructible_v<M>, "troupe: a process_pool job is kept to send it again: copyable");
    using R = reply_t<A, M>;
    auto p = this->template make_promise<R>();
    waiting_.push_back(job_for<M, R>(std::make_shared<const M>(std::move(job)), p, 0));
    dispatch();
    return p;
  }

  /// A worker process's root actor stopped: its process is gone.
  void on(const down& d) { lose(d.monitor, d.what); }

  /// The pool now (for tests and metrics).
  struct stats_request {};
  struct stats {
    std::size_t in_flight = 0;
    std::size_t waiting = 0;
    std::vector<int> pids;       ///< live worker processes
    std::uint64_t replaced = 0;  ///< worker processes that died and were replaced
    std::uint64_t retried = 0;   ///< job sends after a worker died under them
  };
  stats on(stats_request) const {
    stats s{in_flight_, waiting_.size(), {}, replaced_, retried_};
    for (const auto& [key, w] : slots_) s.pids.push_back(w.pid);
    return s;
  }

  /// Ends the worker processes.
  void on_stop() {
    for (auto& [key, w] : slots_) w.link.close("the process pool stopped");
  }

 private:
  struct slot {
    actor_ref<A> ref;
    int pid;
    peer link;
    std::size_t in_flight = 0;
  };
  using job = std::function<void(std::uint64_t worker)>;

  /// Sends the job (its `tries`-th resend) to the worker keyed `key`; its
  /// answer settles `p`, unless the worker died first and it may be retried.
  template <class M, class R>
  job job_for(std::shared_ptr<const M> held, promise<R> p, std::size_t tries) {
    return [this, held = std::move(held), p = std::move(p), tries](std::uint64_t key) {
      slot& s = slots_.at(key);
      ++s.in_flight;
      ++in_flight_;
      this->ask(s.ref, M(*held), opts_.job_timeout, [this, key, held, p, tries](result<R> r) {
        --in_flight_;
        if (auto it = slots_.find(key); it != slots_.end()) --it->second.in_flight;
        const bool lost = !r && r.error() == ask_error::node_down;
        if (lost) lose(key, std::string(r.message()));  // before its down: nothing more goes to it
        if (lost && opts_.on_loss == lost_job::retry && tries < opts_.max_retries) {
          ++retried_;
          waiting_.push_front(job_for<M, R>(held, p, tries + 1));
        } else {
          p.settle(std::move(r));
        }
        dispatch();
      });
    };
  }

  void dispatch() {
    while (in_flight_ < opts_.max_in_flight && !waiting_.empty() && !slots_.empty()) {
      auto least = slots_.begin();
      for (auto it = slots_.begin(); it != slots_.end(); ++it) {
        if (it->second.in_flight < least->second.in_flight) least = it;
      }
      job next = std::move(waiting_.front());
      waiting_.pop_front();
      next(least->first);
    }
  }

  void start_one() {
    spawn_worker<A>(node_, opts_.worker, [this](result<worker<A>> w) {
      if (!w && w.error() == errc::shutting_down) {
        // The node is going away (it must outlive the pool): nothing can be started, nothing is lost.
        detail::logger().info("process_pool: its node is shutting down; the pool stops");
        return this->stop();
      }
      if (!w) return replace("a worker process did not start: " + std::string(w.message()));
      const std::uint64_t key = this->monitor(w.value().root);
      slots_.emplace(key, slot{w.value().root, w.value().pid, w.value().link});
      dispatch();
    });
  }

  /// The worker keyed `key` is gone (its down, or a job failed node_down,
  /// whichever comes first): no job goes to it any more; another starts.
  void lose(std::uint64_t key, const std::string& why) {
    auto it = slots_.find(key);
    if (it == slots_.end()) return;
    const int pid = it->second.pid;
    slots_.erase(it);
    ++replaced_;
    detail::logger().warn("process_pool: worker process {} is gone ({}); starting another", pid, why);
    replace("worker process " + std::to_string(pid) + " gone: " + why);
  }

  /// Starts a worker in place of one lost (or not started), within the
  /// restart intensity. @throws std::runtime_error past it (the pool fails).
  void replace(const std::string& why) {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(restarts_, [&](auto t) { return now - t >= opts_.window; });
    restarts_.push_back(now);
    if (restarts_.size() > opts_.max_restarts) {
      throw std::runtime_error("process_pool: " + std::to_string(restarts_.size()) + " worker processes lost in " +
                               std::to_string(opts_.window.count()) + " ms (last: " + why + "); giving up");
    }
    start_one();
  }

  node& node_;
  process_pool_options opts_;
  std::map<std::uint64_t, slot> slots_;  // by the monitor id of its root
  std::deque<job> waiting_;
  std::size_t in_flight_ = 0;
  std::uint64_t replaced_ = 0;
  std::uint64_t retried_ = 0;
  std::vector<std::chrono::steady_clock::time_point> restarts_;
};

} // namespace troupe
