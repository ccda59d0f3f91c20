#include "toolkit.hpp"

namespace toolkit {
namespace {

struct collector : troupe::actor<collector> {
  explicit collector(events_ref out) : out_(std::move(out)) {}
  void on(troupe::dead_letter d) { out_.tell(event{std::string(troupe::to_string(d.reason)), d.message_type, {}, 0}); }
  events_ref out_;
};

struct note {
  int n;
};
struct sink : troupe::actor<sink> {
  void on(note) {}
};

TEST(DeadLetter, SubscribersSeeEveryCause) {
  troupe::actor_system sys;
  events in(sys);
  auto c = sys.spawn<collector>(in.ref());
  sys.dead_letters().subscribe(c);

  auto gone = sys.spawn<sink>();
  gone.stop();
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped == 1; }, troupe::test::long_wait));
  EXPECT_EQ(gone.tell(note{1}), troupe::send_result::dead);
  event e = next(in);
  EXPECT_EQ(e.kind, "receiver_stopped");
  EXPECT_NE(e.detail.find("note"), std::string::npos) << e.detail;

  troupe::test::gate hold;
  troupe::test::gate_opener release(hold);
  struct stuck : troupe::actor<stuck> {
    explicit stuck(troupe::test::gate* g) : g_(g) {}
    void on(note) { EXPECT_TRUE(g_->wait_for(troupe::test::long_wait)); }
    troupe::test::gate* g_;
  };
  auto full = sys.spawn_with<stuck>({.mailbox = {.capacity = 1, .policy = troupe::overflow::fail}}, &hold);
  full.tell(note{1});  // taken: the handler blocks
  ASSERT_TRUE(troupe::test::wait_until([&] { return full.mailbox_depth() <= 1; }, troupe::test::long_wait));
  troupe::send_result r = troupe::send_result::ok;
  for (int i = 0; i < 3 && r != troupe::send_result::full; ++i) r = full.tell(note{2});
  EXPECT_EQ(r, troupe::send_result::full);
  EXPECT_EQ(next(in).kind, "mailbox_full");
}

/// Counts the dead letters it is told of.
struct dead_counter : troupe::actor<dead_counter> {
  explicit dead_counter(std::atomic<int>* n) : n_(n) {}
  void on(troupe::dead_letter) { n_->fetch_add(1, std::memory_order_relaxed); }
  std::atomic<int>* n_;
};

/// Tells the test it has started on a note, then waits at a gate.
struct blocker : troupe::actor<blocker> {
  blocker(troupe::test::gate* entered, troupe::test::gate* hold) : entered_(entered), hold_(hold) {}
  void on(note) {
    entered_->open();
    EXPECT_TRUE(hold_->wait_for(troupe::test::long_wait));
  }
  troupe::test::gate* entered_;
  troupe::test::gate* hold_;
};

TEST(DeadLetter, AFullSubscriberNeverBlocksTheWorkerDrainingAStoppedActor) {
  // One worker. If telling a subscriber of a dead letter waited for room
  // in its mailbox, the worker draining the stopped actor would wait for
  // itself, and the system would never stop.
  troupe::actor_system sys({.threads = 1});
  std::atomic<int> seen{0};
  auto c = sys.spawn_with<dead_counter>({.mailbox = {.capacity = 4}}, &seen);  // mute_sender
  sys.dead_letters().subscribe(c);
  troupe::test::gate entered, hold;
  troupe::test::gate_opener release(hold);
  auto b = sys.spawn<blocker>(&entered, &hold);
  b.tell(note{0});
  ASSERT_TRUE(entered.wait_for(troupe::test::long_wait));  // the only worker is in b's handler
  constexpr int backlog = 100;
  for (int i = 1; i <= backlog; ++i) ASSERT_EQ(b.tell(note{i}), troupe::send_result::ok);
  b.stop();
  hold.open();  // b's turn ends, serves its stop and dead-letters the backlog
  EXPECT_TRUE(troupe::test::wait_until([&] { return seen.load() == backlog; }, troupe::test::long_wait))
      << seen.load() << " of " << backlog << " dead letters seen";
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::receiver_stopped), static_cast<std::uint64_t>(backlog));
}

} // namespace
} // namespace toolkit
