#include "toolkit.hpp"

namespace toolkit {
namespace {

std::atomic<int> storm_alive{0};

struct fragile : troupe::actor<fragile> {
  fragile() { ++storm_alive; }
  ~fragile() { --storm_alive; }
  void on(crash c) { throw std::runtime_error(c.what); }
  int on(ping) { return 1; }
};

// 10,000 actors under one supervisor tree (a root over 10 supervisors of
// 1,000), every one throwing while restarts are under way, then every one
// answering; then shutdown with nothing left alive (ASan checks leaks).
TEST(Supervisor, FailureStormEndsCleanly) {
  storm_alive = 0;
  const std::size_t groups = 10;
  const std::size_t per_group = 1000;  // the full 10,000 under the sanitizers too
  {
    troupe::actor_system sys;
    std::vector<troupe::child_spec> subtrees;
    for (std::size_t g = 0; g < groups; ++g) {
      std::vector<troupe::child_spec> leaves;
      for (std::size_t i = 0; i < per_group; ++i) {
        leaves.push_back(troupe::child_spec::of<fragile>("leaf-" + std::to_string(i), troupe::restart::permanent));
      }
      subtrees.push_back(troupe::child_spec::of<troupe::supervisor>(
          "group-" + std::to_string(g), troupe::restart::permanent,
          troupe::supervisor_options{.max_restarts = per_group * 4, .window = 60s}, std::move(leaves),
          std::shared_ptr<troupe::supervisor_children>()));
    }
    auto root = troupe::spawn_supervisor(sys, {.max_restarts = 10, .window = 60s}, std::move(subtrees));
    std::vector<troupe::actor_ref<fragile>> all;
    for (std::size_t g = 0; g < groups; ++g) {
      auto sub = root.child<troupe::supervisor>("group-" + std::to_string(g));
      auto kids = sub.ask(troupe::which_children{}, 30s).get().value();
      for (const auto& [name, ref] : kids.list) all.push_back(ref.as<fragile>());
    }
    ASSERT_EQ(all.size(), groups * per_group);
    for (auto& a : all) a.tell(crash{"storm"});
    for (auto& a : all) a.tell(crash{"second wave"});
    std::size_t answered = 0;
    for (auto& a : all) answered += a.ask(ping{}, 60s).get().ok() ? 1 : 0;
    EXPECT_EQ(answered, all.size());
    EXPECT_GE(sys.stats().failed, 2 * all.size());
    sys.shutdown();
    EXPECT_EQ(sys.stats().live, 0u);
  }
  EXPECT_EQ(storm_alive.load(), 0);
}

} // namespace
} // namespace toolkit
