// Tests of actor_ref::tell (troupe/actors/actor_ref.hpp) and the sendable
// rules (troupe/actors/sendable.hpp): delivery, per-sender FIFO from threads
// and from actors, move-only and shared read-only payloads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"
#include "support/test_support.hpp"

namespace {

using namespace troupe::test::prelude;

// ---- compile-time rules -------------------------------------------------------

struct plain {
  int x;
};
static_assert(troupe::is_sendable_v<int>);
static_assert(troupe::is_sendable_v<std::string>);
static_assert(troupe::is_sendable_v<std::vector<std::string>>);
static_assert(troupe::is_sendable_v<std::unique_ptr<plain>>);
static_assert(troupe::is_sendable_v<std::shared_ptr<const plain>>);
static_assert(troupe::is_sendable_v<std::map<int, std::optional<std::string>>>);
static_assert(!troupe::is_sendable_v<int*>);
static_assert(!troupe::is_sendable_v<std::shared_ptr<plain>>);
static_assert(!troupe::is_sendable_v<std::string_view>);
static_assert(!troupe::is_sendable_v<std::span<int>>);
static_assert(!troupe::is_sendable_v<std::vector<int*>>);
static_assert(!troupe::is_sendable_v<std::vector<std::shared_ptr<plain>>>);
static_assert(!troupe::is_sendable_v<std::reference_wrapper<int>>);
static_assert(troupe::handles<recorder, seq_msg>);
static_assert(!troupe::handles<recorder, plain>);
static_assert(std::is_same_v<troupe::reply_t<recorder, troupe::test::get_seen>, std::vector<seq_msg>>);
static_assert(std::is_void_v<troupe::reply_t<recorder, seq_msg>>);

TEST(SendResult, AcceptedAndNames) {
  EXPECT_TRUE(troupe::accepted(send_result::ok));
  EXPECT_TRUE(troupe::accepted(send_result::muted));
  EXPECT_FALSE(troupe::accepted(send_result::full));
  EXPECT_FALSE(troupe::accepted(send_result::dropped));
  EXPECT_FALSE(troupe::accepted(send_result::dead));
  EXPECT_EQ(troupe::to_string(send_result::muted), "muted");
  EXPECT_EQ(troupe::to_string(send_result::full), "full");
  EXPECT_EQ(troupe::to_string(troupe::drop_reason::mailbox_full), "mailbox_full");
  EXPECT_EQ(troupe::to_string(troupe::ask_error::timeout), "timeout");
  EXPECT_EQ(troupe::to_string(troupe::exit_reason::exception), "exception");
}

// ---- payloads ----------------------------------------------------------------

using text_inbox = troupe::inbox<std::string>;

struct payload_sink : actor<payload_sink> {
  explicit payload_sink(actor_ref<text_inbox::actor_type> out) : out_(std::move(out)) {}
  void on(std::unique_ptr<plain> p) { out_.tell("unique " + std::to_string(p->x)); }
  void on(std::shared_ptr<const plain> p) { out_.tell("shared " + std::to_string(p->x)); }
  void on(std::vector<std::string> v) { out_.tell("vector " + std::to_string(v.size())); }
  actor_ref<text_inbox::actor_type> out_;
};

TEST(Tell, MoveOnlyAndSharedReadOnlyPayloads) {
  actor_system sys(system_config{.threads = 2});
  text_inbox out(sys);
  auto s = sys.spawn<payload_sink>(out.ref());
  EXPECT_EQ(s.tell(std::make_unique<plain>(plain{1})), send_result::ok);
  auto shared = std::make_shared<const plain>(plain{2});
  EXPECT_EQ(s.tell(shared), send_result::ok);
  EXPECT_EQ(s.tell(std::vector<std::string>{"a", "b", "c"}), send_result::ok);
  EXPECT_EQ(out.receive(long_wait), "unique 1");
  EXPECT_EQ(out.receive(long_wait), "shared 2");
  EXPECT_EQ(out.receive(long_wait), "vector 3");
  EXPECT_EQ(shared->x, 2);
}

// ---- FIFO ----------------------------------------------------------------------

TEST(Tell, PerSenderFifoFromManyThreads) {
  constexpr int senders = 4;
  const int per_sender = static_cast<int>(troupe::test::scaled(20'000, 2'000));
  actor_system sys(system_config{.threads = 2});
  auto r = sys.spawn<recorder>();  // default mailbox: 1024, mute_sender (threads block when full)
  std::vector<std::future<void>> threads;
  std::atomic<int> not_ok{0};
  for (int s = 0; s < senders; ++s) {
    threads.push_back(std::async(std::launch::async, [&, s] {
      for (int i = 0; i < per_sender; ++i) {
        if (r.tell(seq_msg{s, i}) != send_result::ok) not_ok.fetch_add(1);
      }
    }));
  }
  for (auto& t : threads) ASSERT_EQ(t.wait_for(long_wait), std::future_status::ready) << "a sender stayed blocked";
  EXPECT_EQ(not_ok.load(), 0) << "a thread outside the system blocks instead of being refused";
  auto seen = troupe::test::seen_by(r);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(senders * per_sender));
  std::vector<int> next(senders, 0);
  for (const auto& m : seen) {
    ASSERT_EQ(m.seq, next[static_cast<std::size_t>(m.sender)]) << "sender " << m.sender;
    ++next[static_cast<std::size_t>(m.sender)];
  }
}

TEST(Tell, PerSenderFifoBetweenActors) {
  constexpr int senders = 6;
  const int per_sender = static_cast<int>(troupe::test::scaled(5'000, 800));
  actor_system sys(system_config{.threads = 3});
  troupe::test::report_inbox reports(sys);
  auto r = sys.spawn<recorder>();
  std::vector<actor_ref<troupe::test::producer>> ps;
  for (int s = 0; s < senders; ++s) {
    ps.push_back(sys.spawn<troupe::test::producer>(std::vector{r}, s, per_sender, reports.ref()));
  }
  for (auto& p : ps) p.tell(troupe::test::go{});
  for (int s = 0; s < senders; ++s) {
    auto rep = reports.receive(long_wait);
    ASSERT_TRUE(rep.has_value()) << "only " << s << " producers finished";
    EXPECT_EQ(rep->targets[0].accepted, per_sender);
    EXPECT_EQ(rep->targets[0].refused + rep->targets[0].dead, 0);
  }
  auto seen = troupe::test::seen_by(r);  // asked after every producer finished: FIFO puts it last
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(senders * per_sender));
  std::vector<int> next(senders, 0);
  for (const auto& m : seen) {
    ASSERT_EQ(m.seq, next[static_cast<std::size_t>(m.sender)]) << "sender " << m.sender;
    ++next[static_cast<std::size_t>(m.sender)];
  }
}

TEST(Tell, MailboxDepthCountsQueuedMessages) {
  gate release, entered;
  actor_system sys(system_config{.threads = 1});
  auto r = sys.spawn_with<recorder>({.dedicated_thread = true}, &release, &entered);
  gate_opener opener(release);
  EXPECT_EQ(r.mailbox_depth(), 0u);
  ASSERT_TRUE(troupe::test::hold_actor(r, entered));
  const auto base = r.mailbox_depth();  // the message being handled still counts until its turn ends
  EXPECT_LE(base, 1u);
  for (int i = 0; i < 5; ++i) r.tell(seq_msg{0, i});
  EXPECT_EQ(r.mailbox_depth(), base + 5);
  release.open();
  EXPECT_EQ(troupe::test::seen_by(r).size(), 5u);
  ASSERT_TRUE(troupe::test::wait_until([&] { return r.mailbox_depth() == 0; }, long_wait));
}

} // namespace
