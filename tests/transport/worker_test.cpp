// Worker processes: spawned from this very test binary (its main runs the
// worker when asked), reached through their root actor, and their end --
// exit code, signal, closed link -- reported to monitors.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>

#include "child_node.hpp"
#include "process_probe.hpp"
#include "transport_fixture.hpp"

namespace transport_test {

/// The root actor of the test workers: answers pings, exits on request,
/// says which trace a Blob came in (its traceparent; empty when none).
struct worker_root : troupe::actor<worker_root> {
  using remote_interface = troupe::accepts<troupe_test::Ping, troupe_test::Add, troupe_test::Blob>;
  troupe_test::Blob on(const troupe_test::Blob&) {
    troupe_test::Blob r;
    if (const auto t = troupe::current_trace()) r.set_data(t->traceparent());
    return r;
  }
  troupe_test::Pong on(troupe_test::Ping p) {
    troupe_test::Pong r;
    r.set_seq(p.seq() + static_cast<std::int64_t>(::getpid()) * 0);
    return r;
  }
  troupe_test::Sum on(troupe_test::Add a) {
    if (a.b() == 0) std::_Exit(static_cast<int>(a.a()));  // "exit with code a"
    troupe_test::Sum s;
    s.set_value(::getpid());
    return s;
  }
};

void worker_init(troupe::actor_system& sys, troupe::node& n, const std::vector<std::string>&) {
  n.publish("root", sys.spawn<worker_root>());
  publish_pool_worker(sys, n);
}

namespace {

/// True when process `pid` has a troupe shared-memory segment mapped.
bool maps_shared_segment(int pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("memfd:troupe-shm") != std::string::npos) return true;
  }
  return false;
}

class workers : public ::testing::Test {
 protected:
  void SetUp() override { n = std::make_unique<troupe::node>(sys, node_opts("parent")); }
  void TearDown() override { n.reset(); }
  troupe::worker<worker_root> spawn(troupe::worker_link link = troupe::worker_link::shared_memory) {
    auto w = troupe::spawn_worker<worker_root>(*n, {.link = link});
    EXPECT_TRUE(w.ok()) << w.message();
    return w.ok() ? w.value() : troupe::worker<worker_root>{};
  }
  /// A probe monitoring the worker's root actor reports to `in`.
  bool watch(const troupe::worker<worker_root>& w, events& in) {
    return sys.spawn<probe>(in.ref()).ask(probe::watch{w.root}, 10s).get().ok();
  }
  troupe::actor_system sys{two_threads()};
  std::unique_ptr<troupe::node> n;
};

/// The worker answers from its own process (the pid it returns is its own).
void expect_answers_from_its_process(const troupe::worker<worker_root>& w) {
  ASSERT_TRUE(w.root);
  EXPECT_NE(w.pid, ::getpid());
  troupe_test::Add who;
  who.set_a(1);
  who.set_b(1);
  auto r = w.root.ask(who, 10s).get();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value().value(), w.pid);
}

TEST_F(workers, AWorkerIsAnotherProcessReachedThroughItsRootActor) {
  auto w = spawn();
  expect_answers_from_its_process(w);
  EXPECT_TRUE(maps_shared_segment(w.pid));  // the default link is shared memory
}

TEST_F(workers, AWorkerCanBeLinkedOverASocketpairOrAPipePairInstead) {
  for (auto link : {troupe::worker_link::socketpair, troupe::worker_link::pipes}) {
    auto w = spawn(link);
    expect_answers_from_its_process(w);
    EXPECT_FALSE(maps_shared_segment(w.pid));
    w.link.close("done");
    w.link.wait_down();
  }
}

TEST_F(workers, ATraceReachesAWorkerOverEachLink) {
  // The worker's handler runs in the trace of the ask (a span of its own,
  // the same trace id), over pipes, a socketpair and shared memory alike;
  // an ask outside any trace arrives with none.
  for (auto link : {troupe::worker_link::pipes, troupe::worker_link::socketpair, troupe::worker_link::shared_memory}) {
    auto w = spawn(link);
    const troupe::trace_context root = troupe::trace_context::new_trace();
    auto seen = [&] {
      troupe::trace_scope scope(root);
      return w.root.ask(troupe_test::Blob{}, 10s);
    }().get();
    ASSERT_TRUE(seen.ok()) << seen.message();
    const auto in_worker = troupe::trace_context::parse(seen.value().data());
    ASSERT_TRUE(in_worker.has_value()) << "no trace in the worker: '" << seen.value().data() << "'";
    EXPECT_EQ(in_worker->trace_id, root.trace_id);
    EXPECT_NE(in_worker->span_id, root.span_id) << "the handler is a span of its own";
    auto plain = w.root.ask(troupe_test::Blob{}, 10s).get();
    ASSERT_TRUE(plain.ok()) << plain.message();
    EXPECT_EQ(plain.value().data(), "");
    w.link.close("done");
    w.link.wait_down();
  }
}

TEST_F(workers, SpawnWorkerAsyncReturnsAFutureForEachLink) {
  for (auto link : {troupe::worker_link::shared_memory, troupe::worker_link::socketpair, troupe::worker_link::pipes}) {
    auto w = troupe::spawn_worker_async<worker_root>(*n, {.link = link}).get();
    ASSERT_TRUE(w.ok()) << w.message();
    expect_answers_from_its_process(w.value());
    w.value().link.close("done");
    w.value().link.wait_down();
  }
}

TEST_F(workers, AWorkerWhoseProgramDoesNotStartFailsTheFuture) {
  auto w = troupe::spawn_worker_async<worker_root>(*n, {.executable = "/nonexistent/troupe-worker",
                                                        .start_timeout = 5s}).get();
  EXPECT_FALSE(w.ok());
}

/// Starts a worker from its own handler without blocking its thread, and
/// reports the worker's answer and whether the continuation ran on its turn.
struct starter : troupe::actor<starter> {
  struct go {};
  using report = troupe::actor_ref<troupe::inbox<std::int64_t>::actor_type>;
  starter(troupe::node& n, report out) : node_(n), out_(std::move(out)) {}
  void on(go) {
    troupe::spawn_worker<worker_root>(node_, {}, [this](troupe::result<troupe::worker<worker_root>> w) {
      if (!w.ok() || troupe::detail::current_cell() != self().cell()) return out_.tell(std::int64_t{-1}), void();
      w_ = w.value();
      troupe_test::Add who;
      who.set_a(1);
      who.set_b(1);
      ask(w_.root, who, 10s, [this](troupe::result<troupe_test::Sum> s) {
        out_.tell(s.ok() && s.value().value() == w_.pid ? std::int64_t{w_.pid} : std::int64_t{-2});
      });
    });
  }
  troupe::node& node_;
  report out_;
  troupe::worker<worker_root> w_;
};

TEST_F(workers, InsideAnActorSpawnWorkerRunsItsContinuationOnItsTurn) {
  troupe::inbox<std::int64_t> out(sys);
  sys.spawn<starter>(*n, out.ref()).tell(starter::go{});
  auto pid = out.receive(30s);
  ASSERT_TRUE(pid.has_value()) << "no report";
  EXPECT_GT(*pid, 0) << "-1: no worker, or not on the actor's turn; -2: no answer from the worker's own process";
}

TEST_F(workers, AWorkersExitCodeReachesItsMonitors) {
  auto w = spawn();
  events in(sys);
  ASSERT_TRUE(watch(w, in));
  troupe_test::Add quit;
  quit.set_a(7);
  quit.set_b(0);
  w.root.tell(quit);
  const event ev = next(in);
  EXPECT_EQ(ev.reason, troupe::exit_reason::node_down);
  EXPECT_NE(ev.what.find("exited with code 7"), std::string::npos) << ev.what;
}

TEST_F(workers, AKilledWorkerIsReportedWithItsSignal) {
  auto w = spawn();
  events in(sys);
  ASSERT_TRUE(watch(w, in));
  ::kill(w.pid, SIGKILL);
  const event ev = next(in);
  EXPECT_EQ(ev.reason, troupe::exit_reason::node_down);
  EXPECT_NE(ev.what.find("killed by signal 9"), std::string::npos) << ev.what;
}

TEST_F(workers, ClosingTheLinkEndsTheWorkerCleanly) {
  auto w = spawn();
  events in(sys);
  ASSERT_TRUE(watch(w, in));
  w.link.close("done with it");
  const event ev = next(in);
  EXPECT_NE(ev.what.find("exited with code 0"), std::string::npos) << ev.what;
  EXPECT_TRUE(troupe::test::wait_until([&] { return process_gone(w.pid); }, troupe::test::long_wait));
}

TEST(WorkerOrphans, AWorkerDiesWithItsParent) {
  child_node parent("worker-parent", 0, 100, /*spawn_worker=*/true);
  const int worker = parent.worker_pid();
  ASSERT_GT(worker, 0);
  EXPECT_FALSE(process_gone(worker));
  parent.kill();  // SIGKILL: no goodbye, no cleanup
  EXPECT_TRUE(troupe::test::wait_until([&] { return process_gone(worker); }, troupe::test::long_wait));
}

} // namespace
} // namespace transport_test

int main(int argc, char** argv) {
  if (auto rc = troupe::run_worker_if_asked(argc, argv, transport_test::worker_init)) return *rc;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
