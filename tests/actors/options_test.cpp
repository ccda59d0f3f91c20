// Tests of troupe/actors/system_config.hpp: system and spawn options are
// validated, and the default mailbox and the quantum take effect.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"

namespace {

using namespace troupe::test::prelude;

TEST(SystemConfig, DefaultsAreValid) {
  system_config cfg;
  EXPECT_NO_THROW(cfg.validate());
  EXPECT_EQ(cfg.quantum, 64u);
  EXPECT_EQ(cfg.default_mailbox.policy, overflow::mute_sender);
}

TEST(SystemConfig, QuantumZeroThrows) {
  EXPECT_THROW(system_config{.quantum = 0}.validate(), std::invalid_argument);
  EXPECT_THROW(actor_system(system_config{.threads = 1, .quantum = 0}), std::invalid_argument);
}

TEST(SystemConfig, AbsurdThreadCountThrows) {
  EXPECT_THROW(actor_system(system_config{.threads = 5000}), std::invalid_argument);
}

TEST(SystemConfig, InvalidDefaultMailboxThrows) {
  EXPECT_THROW(actor_system(system_config{.threads = 1, .default_mailbox = {.capacity = 0}}), std::invalid_argument);
  EXPECT_THROW(actor_system(system_config{.threads = 1, .default_mailbox = {.capacity = 4, .low_water = 4}}),
               std::invalid_argument);
}

TEST(SystemConfig, ConfigIsKept) {
  actor_system sys(system_config{.threads = 1, .quantum = 7});
  EXPECT_EQ(sys.config().quantum, 7u);
  EXPECT_EQ(sys.config().threads, 1u);
  EXPECT_EQ(troupe::detail::system_access::core(sys).pool().size(), 1u);
}

struct tracked : actor<tracked> {
  explicit tracked(std::atomic<int>* live) : token_(live) {}
  void on(int) {}
  live_token token_;
};

TEST(SpawnOptions, InvalidMailboxThrowsAndLeaksNothing) {
  std::atomic<int> live{0};
  actor_system sys(system_config{.threads = 1});
  EXPECT_THROW(sys.spawn_with<tracked>({.mailbox = {.capacity = 0}}, &live), std::invalid_argument);
  EXPECT_THROW(sys.spawn_with<tracked>({.mailbox = {.capacity = 2, .low_water = 5}}, &live), std::invalid_argument);
  EXPECT_EQ(live.load(), 0);
  EXPECT_EQ(sys.stats().spawned, 0u);
  EXPECT_EQ(sys.stats().live, 0u);
}

TEST(SpawnOptions, DefaultMailboxComesFromTheConfig) {
  held_recorder h(
      system_config{.threads = 1, .default_mailbox = {.capacity = 3, .policy = overflow::fail}},
      held_recorder::system_defaults{});
  ASSERT_TRUE(h.hold());
  auto& r = h.r;
  std::vector<send_result> results;
  for (int i = 0; i < 4; ++i) results.push_back(r.tell(troupe::test::seq_msg{0, i}));
  EXPECT_EQ(results, (std::vector<send_result>{send_result::ok, send_result::ok, send_result::full,
                                               send_result::full}))
      << "capacity 3 with one message in the handler leaves room for 2";
}

// A spawn_options that sets only the thread keeps the system's mailbox (it
// silently got the built-in defaults: capacity 1024, mute_sender).
TEST(SpawnOptions, OptionsNotGivenTakeTheSystemDefaults) {
  actor_system sys(system_config{.threads = 1, .default_mailbox = {.capacity = 5, .policy = overflow::fail}});
  auto on_thread = sys.spawn_with<troupe::test::recorder>(spawn_options{.dedicated_thread = true});
  EXPECT_EQ(on_thread.metrics().capacity, 5u);
  auto plain = sys.spawn<troupe::test::recorder>();
  EXPECT_EQ(plain.metrics().capacity, 5u);
  auto given = sys.spawn_with<troupe::test::recorder>(spawn_options{.mailbox = {.capacity = 9}});
  EXPECT_EQ(given.metrics().capacity, 9u);
}

TEST(SpawnOptions, UnboundedMailboxNeverRefusesOrBlocks) {
  held_recorder h(system_config{.threads = 1},
                                {.mailbox = mailbox_options::make_unbounded(), .dedicated_thread = true});
  ASSERT_TRUE(h.hold());
  auto& r = h.r;
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(r.tell(troupe::test::seq_msg{0, i}), send_result::ok);
  h.release.open();
  EXPECT_EQ(troupe::test::seen_by(r).size(), 5000u);
}

// ---- quantum ------------------------------------------------------------------

using name_inbox = troupe::inbox<std::string>;

struct named : actor<named> {
  named(std::string name, actor_ref<name_inbox::actor_type> out) : name_(std::move(name)), out_(std::move(out)) {}
  void on(int) { out_.tell(std::string(name_)); }
  std::string name_;
  actor_ref<name_inbox::actor_type> out_;
};

struct fan : actor<fan> {
  fan(actor_ref<named> a, actor_ref<named> b) : a_(std::move(a)), b_(std::move(b)) {}
  void on(troupe::test::go) {
    for (int i = 0; i < 4; ++i) a_.tell(i);
    for (int i = 0; i < 4; ++i) b_.tell(i);
  }
  actor_ref<named> a_, b_;
};

/// Longest run of the same actor in a handling order.
std::size_t longest_run(const std::vector<std::string>& v) {
  std::size_t best = 0, run = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    run = (i > 0 && v[i] == v[i - 1]) ? run + 1 : 1;
    best = std::max(best, run);
  }
  return best;
}

std::vector<std::string> handling_order(std::size_t quantum) {
  actor_system sys(system_config{.threads = 1, .quantum = quantum});
  name_inbox out(sys);
  auto a = sys.spawn<named>("a", out.ref());
  auto b = sys.spawn<named>("b", out.ref());
  sys.spawn<fan>(a, b).tell(troupe::test::go{});
  std::vector<std::string> order;
  for (int i = 0; i < 8; ++i) {
    auto n = out.receive(long_wait);
    if (!n) break;
    order.push_back(*n);
  }
  return order;
}

TEST(SystemConfig, QuantumBoundsMessagesPerTurn) {
  // One worker, two actors with four messages each, both runnable at once.
  const auto one = handling_order(1);
  ASSERT_EQ(one.size(), 8u);
  EXPECT_EQ(longest_run(one), 1u) << "with quantum 1 the other runnable actor gets the worker after each message";
  const auto many = handling_order(64);
  ASSERT_EQ(many.size(), 8u);
  EXPECT_EQ(longest_run(many), 4u) << "with a large quantum an actor drains its mailbox in one turn";
}

} // namespace
