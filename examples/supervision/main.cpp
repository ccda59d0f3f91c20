// A worker pool that keeps answering while its workers crash.
//
// Four workers compute square roots; every job whose number is divisible by
// 7 makes a worker throw. The pool's supervisor restarts the crashed worker
// in place (same handle, same mailbox), the job that crashed it is answered
// with an error, and every other job is answered with its result.
#include <troupe/troupe.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace {

struct job {
  int n;
};

struct root_worker : troupe::actor<root_worker> {
  double on(job j) {
    ++handled_;
    if (j.n % 7 == 0) throw std::runtime_error("cannot stand multiples of 7 (" + std::to_string(j.n) + ")");
    return std::sqrt(static_cast<double>(j.n));
  }
  int handled_ = 0;
};

} // namespace

int main() {
  using namespace std::chrono_literals;
  troupe::actor_system sys;
  auto pool = sys.spawn<troupe::worker_pool<root_worker>>(
      troupe::worker_pool_options{.workers = 4, .max_in_flight = 8, .max_restarts = 1000, .window = 1000ms});

  constexpr int jobs = 1000;
  std::vector<troupe::ask_future<double>> replies;
  replies.reserve(jobs);
  for (int i = 1; i <= jobs; ++i) replies.push_back(pool.ask(job{i}, 10s));

  int answered = 0, crashed = 0, wrong = 0;
  for (int i = 1; i <= jobs; ++i) {
    auto r = replies[i - 1].get();
    if (r.ok()) {
      ++answered;
      if (std::abs(*r - std::sqrt(static_cast<double>(i))) > 1e-9) ++wrong;
    } else if (r.error() == troupe::ask_error::exception) {
      ++crashed;
    } else {
      std::printf("job %d: unexpected error %s\n", i, r.error().message().c_str());
      return 1;
    }
  }
  const auto st = sys.stats();
  std::printf("supervision: %d jobs: %d answered, %d crashed a worker (answered with the error), %d wrong\n", jobs,
              answered, crashed, wrong);
  std::printf("             workers failed %llu times and were restarted in place; the pool never stopped\n",
              static_cast<unsigned long long>(st.failed));
  const bool ok = answered == jobs - jobs / 7 && crashed == jobs / 7 && wrong == 0;
  std::printf("supervision: %s\n", ok ? "every job answered exactly once" : "MISMATCH");
  return ok ? 0 : 1;
}
