#include "ask_workloads.hpp"

#include <chrono>
#include <string>

namespace bench {

namespace {

using namespace std::chrono_literals;

struct question {
  u64 x;
};
struct answerer : troupe::actor<answerer> {
  u64 on(question q) { return q.x + 1; }
};

struct start {};

/// Asks with a continuation: the reply's continuation asks again.
struct continuation_asker : troupe::actor<continuation_asker> {
  continuation_asker(troupe::actor_ref<answerer> peer, report_ref out, u64 n)
      : peer_(std::move(peer)), out_(std::move(out)), left_(n) {}
  void on(start) { next(); }
  void next() {
    ask(peer_, question{left_}, 10s, [this](troupe::result<u64> r) {
      if (!r) fail("ask: " + std::string(r.message()));
      sum_ += *r;
      if (--left_ == 0) {
        out_.tell(done{sum_});
      } else {
        next();
      }
    });
  }
  troupe::actor_ref<answerer> peer_;
  report_ref out_;
  u64 left_;
  u64 sum_ = 0;
};

/// Asks with co_await, N times in one coroutine handler.
struct coroutine_asker : troupe::actor<coroutine_asker> {
  coroutine_asker(troupe::actor_ref<answerer> peer, report_ref out, u64 n)
      : peer_(std::move(peer)), out_(std::move(out)), n_(n) {}
  troupe::task<> on(start) {
    u64 sum = 0;
    for (u64 left = n_; left > 0; --left) {
      troupe::result<u64> r = co_await ask(peer_, question{left}, 10s);
      if (!r) fail("coro-ask: " + std::string(r.message()));
      sum += *r;
    }
    out_.tell(done{sum});
  }
  troupe::actor_ref<answerer> peer_;
  report_ref out_;
  u64 n_;
};

template <class Asker>
outcome run(troupe::actor_system& sys, u64 n, const char* what) {
  troupe::inbox<done> in(sys);
  auto b = sys.spawn<answerer>();
  auto a = sys.spawn<Asker>(b, in.ref(), n);
  const auto t0 = steady::now();
  a.tell(start{});
  const done f = await(in, what);
  const double s = seconds_since(t0);
  if (f.value != n * (n + 1) / 2 + n) fail(std::string(what) + ": wrong sum of replies");
  return {n, s, ""};
}

} // namespace

outcome run_ask(troupe::actor_system& sys, u64 n) { return run<continuation_asker>(sys, n, "ask"); }
outcome run_coro_ask(troupe::actor_system& sys, u64 n) { return run<coroutine_asker>(sys, n, "coro-ask"); }

} // namespace bench
