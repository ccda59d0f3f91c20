#include <map>
#include <mutex>

#include "support/captured_log.hpp"
#include "toolkit.hpp"

namespace toolkit {
namespace {

/// Counts incarnations per name (constructions) across restarts.
struct census {
  std::mutex mx;
  std::map<std::string, int> starts;
  std::vector<std::chrono::steady_clock::time_point> times;
  void record(const std::string& n) {
    std::lock_guard lock(mx);
    ++starts[n];
    times.push_back(std::chrono::steady_clock::now());
  }
  int of(const std::string& n) {
    std::lock_guard lock(mx);
    return starts[n];
  }
};

struct child : troupe::actor<child> {
  child(std::shared_ptr<census> c, std::string name) : name_(std::move(name)) { c->record(name_); }
  int on(ping) { return ++pings_; }
  void on(crash c) { throw std::runtime_error(c.what); }
  void on(quit) { stop(); }
  std::string name_;
  int pings_ = 0;
};

troupe::child_spec spec(const std::shared_ptr<census>& c, const std::string& name, troupe::restart kind = troupe::restart::permanent) {
  return troupe::child_spec::of<child>(name, kind, c, name);
}

int ping_of(const troupe::actor_ref<child>& r) {
  auto res = r.ask(ping{}, 10s).get();
  return res ? *res : -1;
}

TEST(Supervisor, OneForOneRestartsOnlyTheFailedChildBehindTheSameHandle) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.how = troupe::strategy::one_for_one},
                                    {spec(c, "a"), spec(c, "b"), spec(c, "c")});
  auto a = h.child<child>("a");
  auto b = h.child<child>("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(ping_of(b), 1);
  EXPECT_EQ(ping_of(b), 2);
  b.tell(crash{});
  EXPECT_EQ(ping_of(b), 1);  // a fresh incarnation answers through the old handle
  EXPECT_EQ(c->of("a"), 1);
  EXPECT_EQ(c->of("b"), 2);
  EXPECT_EQ(c->of("c"), 1);
  EXPECT_EQ(ping_of(a), 1);
}

TEST(Supervisor, MessagesQueuedDuringARestartAreKept) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.delay = {.initial = 20ms, .max = 20ms, .jitter = 0}}, {spec(c, "a")});
  auto a = h.child<child>("a");
  a.tell(crash{});
  std::vector<troupe::ask_future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(a.ask(ping{}, 10s));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(fs[i].get().value(), i + 1);
}

TEST(Supervisor, OneForAllRestartsEveryChild) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.how = troupe::strategy::one_for_all}, {spec(c, "a"), spec(c, "b"), spec(c, "c")});
  auto a = h.child<child>("a");
  auto cc = h.child<child>("c");
  EXPECT_EQ(ping_of(a), 1);
  h.child<child>("b").tell(crash{});
  ASSERT_TRUE(troupe::test::wait_until([&] { return c->of("a") == 2 && c->of("b") == 2 && c->of("c") == 2; },
                                       troupe::test::long_wait));
  EXPECT_EQ(ping_of(a), 1);  // a's state was reset
  EXPECT_EQ(ping_of(cc), 1);
}

TEST(Supervisor, RestForOneRestartsTheFailedAndLaterChildren) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.how = troupe::strategy::rest_for_one}, {spec(c, "a"), spec(c, "b"), spec(c, "c")});
  h.child<child>("b").tell(crash{});
  ASSERT_TRUE(troupe::test::wait_until([&] { return c->of("b") == 2 && c->of("c") == 2; }, troupe::test::long_wait));
  EXPECT_EQ(ping_of(h.child<child>("c")), 1);
  EXPECT_EQ(c->of("a"), 1);
}

TEST(Supervisor, RestartKindsDecideWhatComesBack) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.max_restarts = 10},
                                    {spec(c, "perm", troupe::restart::permanent), spec(c, "trans", troupe::restart::transient),
                                     spec(c, "temp", troupe::restart::temporary), spec(c, "trans2", troupe::restart::transient)});
  auto perm = h.child<child>("perm");
  auto trans = h.child<child>("trans");
  auto temp = h.child<child>("temp");
  auto trans2 = h.child<child>("trans2");
  for (auto* r : {&trans, &temp}) (void)w.ask(watcher::watch{*r}, 10s).get();

  perm.tell(quit{});  // permanent: even a normal stop is restarted
  EXPECT_EQ(ping_of(perm), 1);
  EXPECT_EQ(c->of("perm"), 2);

  trans2.tell(crash{});  // transient: restarted after an abnormal stop
  EXPECT_EQ(ping_of(trans2), 1);
  EXPECT_EQ(c->of("trans2"), 2);

  trans.tell(quit{});  // transient: a normal stop is final
  event e = next(in);
  EXPECT_EQ(e.reason, troupe::exit_reason::normal);
  EXPECT_EQ(trans.ask(ping{}, 10s).get().error(), troupe::ask_error::actor_stopped);

  temp.tell(crash{"temp dies"});  // temporary: never restarted
  e = next(in);
  EXPECT_EQ(e.reason, troupe::exit_reason::exception);
  EXPECT_EQ(e.detail, "temp dies");
  EXPECT_EQ(c->of("temp"), 1);
}

TEST(Supervisor, TooManyRestartsMakeTheSupervisorFail) {
  troupe::actor_system sys;
  events in(sys);
  auto w = sys.spawn<watcher>(in.ref());
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.max_restarts = 2, .window = 10s}, {spec(c, "a")});
  (void)w.ask(watcher::watch{h.ref}, 10s).get();
  auto a = h.child<child>("a");
  (void)w.ask(watcher::watch{a}, 10s).get();
  for (int i = 0; i < 3; ++i) {
    a.tell(crash{});
    if (i < 2) {
      EXPECT_EQ(ping_of(a), 1);
    }
  }
  // The child is stopped for good, then the supervisor fails.
  std::vector<event> downs{next(in), next(in)};
  int sup_downs = 0;
  for (const auto& e : downs) {
    if (e.detail.find("restart intensity exceeded") != std::string::npos) {
      ++sup_downs;
      EXPECT_EQ(e.reason, troupe::exit_reason::exception);
    }
  }
  EXPECT_EQ(sup_downs, 1);
  EXPECT_EQ(c->of("a"), 3);
}

TEST(Supervisor, NestedTreeRestartsAtTheRightLevel) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto inner_out = std::make_shared<troupe::supervisor_children>();
  std::vector<troupe::child_spec> inner{spec(c, "leaf1"), spec(c, "leaf2")};
  auto h = troupe::spawn_supervisor(
      sys, {.how = troupe::strategy::one_for_one},
      {troupe::child_spec::of<troupe::supervisor>("inner", troupe::restart::permanent,
                                                   troupe::supervisor_options{.max_restarts = 1, .window = 10s}, inner,
                                                   std::shared_ptr<troupe::supervisor_children>()),
       spec(c, "sibling")});
  auto inner_sup = h.child<troupe::supervisor>("inner");
  ASSERT_TRUE(inner_sup);
  auto leaves = inner_sup.ask(troupe::which_children{}, 10s).get().value();
  auto leaf1 = leaves.get<child>("leaf1");
  ASSERT_TRUE(leaf1);
  leaf1.tell(crash{});  // restart 1: handled by the inner supervisor
  EXPECT_EQ(ping_of(leaf1), 1);
  EXPECT_EQ(c->of("leaf1"), 2);
  leaf1.tell(crash{});  // restart 2: too many for inner, which fails; the outer restarts inner
  ASSERT_TRUE(troupe::test::wait_until([&] { return c->of("leaf1") == 3 && c->of("leaf2") == 2; }, troupe::test::long_wait));
  auto fresh = inner_sup.ask(troupe::which_children{}, 10s).get().value().get<child>("leaf1");
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(fresh == leaf1);  // a restarted supervisor starts fresh children
  EXPECT_EQ(ping_of(fresh), 1);
  EXPECT_EQ(c->of("sibling"), 1);
}

TEST(Supervisor, RegisteredChildrenAreFoundByName) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {}, {spec(c, "db").registered()});
  auto db = sys.registry().get<child>("db");
  ASSERT_TRUE(db);
  db.tell(crash{});
  EXPECT_EQ(ping_of(sys.registry().get<child>("db")), 1);
}

TEST(Supervisor, ShutdownStopsTheWholeTree) {
  auto c = std::make_shared<census>();
  {
    troupe::actor_system sys;
    auto h = troupe::spawn_supervisor(sys, {}, {spec(c, "a"), spec(c, "b")});
    h.child<child>("a").tell(crash{});
    sys.shutdown();
    EXPECT_EQ(sys.stats().live, 0u);
  }
}

TEST(Supervisor, RejectsBadOptions) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  EXPECT_THROW(troupe::spawn_supervisor(sys, {.window = 0ms}, {spec(c, "a")}), std::invalid_argument);
  EXPECT_THROW(troupe::spawn_supervisor(sys, {.delay = {.initial = 10ms, .max = 1ms}}, {spec(c, "a")}),
               std::invalid_argument);
  EXPECT_THROW(troupe::spawn_supervisor(sys, {}, {spec(c, "a"), spec(c, "a")}), std::invalid_argument);
  EXPECT_TRUE(sys.await_all_stopped(troupe::test::long_wait));  // nothing half-started is left running
}

TEST(Backoff, RestartDelaysGrowExponentially) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.max_restarts = 10, .window = 10s, .delay = {.initial = 20ms, .max = 1000ms, .jitter = 0}},
                                    {spec(c, "a")});
  auto a = h.child<child>("a");
  std::vector<std::chrono::steady_clock::duration> gaps;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    a.tell(crash{});
    ASSERT_EQ(ping_of(a), 1);
    gaps.push_back(std::chrono::steady_clock::now() - t0);
  }
  // 20, 40, 80 ms (generous upper bounds: these are not benchmarks).
  EXPECT_GE(gaps[0], 20ms);
  EXPECT_GE(gaps[1], 40ms);
  EXPECT_GE(gaps[2], 80ms);
  EXPECT_LT(gaps[2], 5s);
}

TEST(Backoff, JitterStaysWithinItsBand) {
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.max_restarts = 10, .window = 10s, .delay = {.initial = 40ms, .max = 40ms, .jitter = 0.5}},
                                    {spec(c, "a")});
  auto a = h.child<child>("a");
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    a.tell(crash{});
    ASSERT_EQ(ping_of(a), 1);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);  // 40 ms * (1 - 0.5)
  }
}


/// The next restart event, or a failed test.
troupe::child_restarted next_restart(troupe::inbox<troupe::child_restarted>& in) {
  auto e = in.receive(troupe::test::long_wait);
  if (!e) {
    ADD_FAILURE() << "no child_restarted event";
    return {};
  }
  return *e;
}

TEST(SupervisorVisibility, RestartsAreCountedPerChildAndInStatsAndPublished) {
  troupe::actor_system sys;
  troupe::inbox<troupe::child_restarted> restarts(sys);
  sys.child_restarts().subscribe(restarts.ref());
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.how = troupe::strategy::one_for_all, .max_restarts = 10, .window = 10s},
                                    {spec(c, "a"), spec(c, "b")});
  auto a = h.child<child>("a");
  auto b = h.child<child>("b");
  a.tell(crash{"first"});
  // one_for_all: a restarts for its exception, b with it.
  std::map<std::string, troupe::child_restarted> seen;
  for (int i = 0; i < 2; ++i) {
    auto e = next_restart(restarts);
    seen[e.name] = e;
  }
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen["a"].reason, troupe::exit_reason::exception);
  EXPECT_EQ(seen["a"].what, "first");
  EXPECT_EQ(seen["a"].restarts, 1u);
  EXPECT_TRUE(seen["a"].child == a);
  EXPECT_TRUE(seen["a"].supervisor == h.ref);
  EXPECT_EQ(seen["b"].reason, troupe::exit_reason::stopped);
  EXPECT_NE(seen["b"].what.find("'a'"), std::string::npos) << seen["b"].what;
  EXPECT_EQ(seen["b"].restarts, 1u);

  b.tell(crash{"second"});
  for (int i = 0; i < 2; ++i) (void)next_restart(restarts);
  auto counts = h.ref.ask(troupe::restart_counts{}, 10s).get();
  ASSERT_TRUE(counts);
  ASSERT_EQ(counts->size(), 2u);
  EXPECT_EQ((*counts)[0].name, "a");
  EXPECT_EQ((*counts)[0].restarts, 2u);
  EXPECT_EQ((*counts)[1].name, "b");
  EXPECT_EQ((*counts)[1].restarts, 2u);
  EXPECT_EQ(sys.stats().restarts, 4u);
  EXPECT_EQ(sys.stats().give_ups, 0u);
  EXPECT_EQ(ping_of(a), 1);  // fresh incarnations
  EXPECT_EQ(ping_of(b), 1);
}

TEST(SupervisorVisibility, AGiveUpIsCountedAndLoggedAtErrorWithItsReason) {
  troupe::test::captured_log log;
  troupe::actor_system sys;
  auto c = std::make_shared<census>();
  auto h = troupe::spawn_supervisor(sys, {.max_restarts = 1, .window = 10s}, {spec(c, "a")});
  auto a = h.child<child>("a");
  a.tell(crash{"once"});
  EXPECT_EQ(ping_of(a), 1);
  a.tell(crash{"twice"});
  auto d = sys.await_stopped(h.ref, troupe::test::long_wait);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, troupe::exit_reason::exception);
  EXPECT_EQ(sys.stats().give_ups, 1u);
  EXPECT_EQ(sys.stats().restarts, 1u);
  EXPECT_TRUE(log.contains("[error] supervisor " + std::to_string(h.ref.id()) +
                           " gave up: restart intensity exceeded: 2 restarts in 10000 ms (last: child 'a', exception: twice)"));
}

} // namespace
} // namespace toolkit
