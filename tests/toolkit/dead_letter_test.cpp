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

} // namespace
} // namespace toolkit
