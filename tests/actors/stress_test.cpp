// Stress tests: many producers (actors and outside threads) x many receivers
// under each overflow policy; every accepted message arrives exactly once in
// per-sender order and every refused or dropped one is reported. Then ten
// thousand actors, and a shutdown in the middle of a flood.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"

namespace {

using namespace troupe::test::prelude;
using troupe::test::producer;
using troupe::test::target_report;

class Stress : public ::testing::TestWithParam<overflow> {};

TEST_P(Stress, ManyProducersManyReceiversEveryMessageAccountedFor) {
  const overflow policy = GetParam();
  constexpr int receivers = 4;
  constexpr int actor_producers = 6;
  constexpr int thread_producers = 2;
  constexpr int senders = actor_producers + thread_producers;
  constexpr std::size_t capacity = 32;
  const int per_pair = static_cast<int>(troupe::test::scaled(4'000, 300));

  actor_system sys(system_config{.threads = 4});
  troupe::test::report_inbox reports(sys);
  std::vector<actor_ref<recorder>> rs;
  for (int i = 0; i < receivers; ++i) {
    rs.push_back(sys.spawn_with<recorder>({.mailbox = {.capacity = capacity, .policy = policy}}));
  }
  std::vector<actor_ref<producer>> ps;
  for (int p = 0; p < actor_producers; ++p) ps.push_back(sys.spawn<producer>(rs, p, per_pair, reports.ref()));

  // reports[sender][receiver]
  std::vector<std::vector<target_report>> sent(senders, std::vector<target_report>(receivers));
  std::vector<std::future<void>> threads;
  for (int t = 0; t < thread_producers; ++t) {
    const int id = actor_producers + t;
    threads.push_back(std::async(std::launch::async, [&, id] {
      auto& mine = sent[static_cast<std::size_t>(id)];
      for (int seq = 0; seq < per_pair; ++seq) {
        for (int r = 0; r < receivers; ++r) {
          auto& rep = mine[static_cast<std::size_t>(r)];
          const send_result res = rs[static_cast<std::size_t>(r)].tell(seq_msg{id, seq});
          if (troupe::accepted(res)) {
            ++rep.accepted;
            rep.accepted_sum += seq;
          } else if (res == send_result::dead) {
            ++rep.dead;
          } else {
            ++rep.refused;
          }
        }
      }
    }));
  }
  for (auto& p : ps) p.tell(troupe::test::go{});

  for (int p = 0; p < actor_producers; ++p) {
    auto rep = reports.receive(long_wait);
    ASSERT_TRUE(rep.has_value()) << "only " << p << " actor producers finished";
    sent[static_cast<std::size_t>(rep->id)] = rep->targets;
  }
  for (auto& t : threads) ASSERT_EQ(t.wait_for(long_wait), std::future_status::ready) << "a sending thread hung";

  std::int64_t total_accepted = 0, total_refused = 0, total_received = 0, total_muted = 0;
  for (int s = 0; s < senders; ++s) {
    for (int r = 0; r < receivers; ++r) {
      const auto& rep = sent[static_cast<std::size_t>(s)][static_cast<std::size_t>(r)];
      EXPECT_EQ(rep.dead, 0);
      EXPECT_EQ(rep.accepted + rep.refused, per_pair) << "sender " << s << " receiver " << r;
      total_accepted += rep.accepted;
      total_refused += rep.refused;
      total_muted += rep.muted;
    }
  }

  // Every refusal is counted before tell returns; snapshot now, before the
  // asks below (which a full mailbox may refuse, and count, too).
  const auto refused_stats = sys.stats();

  for (int r = 0; r < receivers; ++r) {
    const auto seen = troupe::test::seen_by(rs[static_cast<std::size_t>(r)]);
    total_received += static_cast<std::int64_t>(seen.size());
    EXPECT_TRUE(troupe::test::per_sender_increasing(seen, senders))
        << "receiver " << r << ": a duplicate or an out-of-order message";
    std::vector<std::int64_t> count(senders, 0), sum(senders, 0);
    for (const auto& m : seen) {
      ++count[static_cast<std::size_t>(m.sender)];
      sum[static_cast<std::size_t>(m.sender)] += m.seq;
    }
    for (int s = 0; s < senders; ++s) {
      const auto& rep = sent[static_cast<std::size_t>(s)][static_cast<std::size_t>(r)];
      if (policy == overflow::drop_oldest) {
        EXPECT_LE(count[static_cast<std::size_t>(s)], rep.accepted);
      } else {
        EXPECT_EQ(count[static_cast<std::size_t>(s)], rep.accepted) << "sender " << s << " receiver " << r;
        EXPECT_EQ(sum[static_cast<std::size_t>(s)], rep.accepted_sum) << "sender " << s << " receiver " << r;
      }
    }
  }

  const auto st = sys.stats();
  EXPECT_EQ(st.dead(drop_reason::receiver_stopped), 0u);
  EXPECT_EQ(st.dead(drop_reason::late_reply), 0u);
  const auto all = static_cast<std::int64_t>(senders) * receivers * per_pair;
  switch (policy) {
    case overflow::mute_sender:
      EXPECT_EQ(total_refused, 0);
      EXPECT_EQ(total_received, all);
      EXPECT_EQ(st.total_dead(), 0u);
      break;
    case overflow::fail:
      EXPECT_EQ(static_cast<std::int64_t>(refused_stats.dead(drop_reason::mailbox_full)), total_refused);
      EXPECT_EQ(total_received, total_accepted);
      break;
    case overflow::drop_newest:
      EXPECT_EQ(static_cast<std::int64_t>(refused_stats.dead(drop_reason::dropped_newest)), total_refused);
      EXPECT_EQ(total_received, total_accepted);
      break;
    case overflow::drop_oldest:
      // Evicted when the receiver runs; refused (as dropped_newest) only
      // past twice the capacity, while the receiver is busy.
      EXPECT_EQ(static_cast<std::int64_t>(refused_stats.dead(drop_reason::dropped_newest)), total_refused);
      EXPECT_EQ(total_received + static_cast<std::int64_t>(st.dead(drop_reason::dropped_oldest)) + total_refused, all)
          << "received + evicted + refused == sent";
      break;
    case overflow::spill: FAIL() << "spill is tested in spill_test.cpp (it needs serialisable messages)";
  }
  RecordProperty("accepted", std::to_string(total_accepted));
  RecordProperty("refused", std::to_string(total_refused));
  RecordProperty("muted", std::to_string(total_muted));
}

INSTANTIATE_TEST_SUITE_P(Overflow, Stress,
                         ::testing::Values(overflow::mute_sender, overflow::fail, overflow::drop_newest,
                                           overflow::drop_oldest),
                         [](const auto& info) { return std::string(troupe::to_string(info.param)); });

// ---- many actors ------------------------------------------------------------------

struct one_shot : actor<one_shot> {
  one_shot(std::atomic<int>* live, std::atomic<int>* handled) : token_(live), handled_(handled) {}
  void on(troupe::test::go) {
    handled_->fetch_add(1, std::memory_order_relaxed);
    stop();
  }
  live_token token_;
  std::atomic<int>* handled_;
};

TEST(Stress, TenThousandActorsSpawnedMessagedAndStopped) {
  const int n = static_cast<int>(troupe::test::scaled(10'000, 2'000));
  std::atomic<int> live{0}, handled{0};
  actor_system sys(system_config{.threads = 2});
  {
    std::vector<actor_ref<one_shot>> refs;
    refs.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) refs.push_back(sys.spawn<one_shot>(&live, &handled));
    EXPECT_EQ(sys.stats().spawned, static_cast<std::uint64_t>(n));
    for (auto& r : refs) ASSERT_EQ(r.tell(troupe::test::go{}), send_result::ok);
  }
  ASSERT_TRUE(sys.await_all_stopped(long_wait)) << sys.stats().live << " actors still alive";
  EXPECT_EQ(handled.load(), n);
  EXPECT_EQ(live.load(), 0);
  const auto st = sys.stats();
  EXPECT_EQ(st.live, 0u);
  EXPECT_EQ(st.stopped, static_cast<std::uint64_t>(n));
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.total_dead(), 0u);
}

TEST(Stress, ShutdownInTheMiddleOfAFlood) {
  actor_system sys(system_config{.threads = 3});
  troupe::test::report_inbox reports(sys);
  std::vector<actor_ref<recorder>> rs;
  for (int i = 0; i < 3; ++i) {
    rs.push_back(sys.spawn_with<recorder>({.mailbox = {.capacity = 16, .policy = overflow::mute_sender}}));
  }
  for (int p = 0; p < 4; ++p) {
    sys.spawn<producer>(rs, p, 1'000'000, reports.ref()).tell(troupe::test::go{});
  }
  std::atomic<bool> stop_threads{false};
  std::vector<std::future<void>> threads;
  for (int t = 0; t < 2; ++t) {
    threads.push_back(std::async(std::launch::async, [&, t] {
      for (int seq = 0; !stop_threads.load(); ++seq) {
        if (rs[static_cast<std::size_t>(t)].tell(seq_msg{10 + t, seq}) == send_result::dead) return;
      }
    }));
  }
  ASSERT_TRUE(troupe::test::wait_until(
      [&] { return rs[0].mailbox_depth() > 0 && sys.stats().pool.injected > 0; }, long_wait));
  auto down = std::async(std::launch::async, [&] { sys.shutdown(); });
  const bool finished = down.wait_for(long_wait) == std::future_status::ready;
  stop_threads.store(true);
  for (auto& t : threads) ASSERT_EQ(t.wait_for(long_wait), std::future_status::ready);
  ASSERT_TRUE(finished) << "shutdown hung during a flood";
  down.get();
  EXPECT_EQ(sys.stats().live, 0u);
  EXPECT_EQ(sys.stats().spawned, sys.stats().stopped);
}

} // namespace
