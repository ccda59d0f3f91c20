#include <map>
#include <mutex>

#include "toolkit.hpp"

namespace toolkit {
namespace {

struct keyed {
  std::string key;
  [[nodiscard]] const std::string& routing_key() const { return key; }
};
struct who {};

struct routee : troupe::actor<routee> {
  explicit routee(troupe::test::gate* hold = nullptr) : hold_(hold) {}
  std::uint64_t on(keyed) { return self().id(); }
  std::uint64_t on(who) {
    if (hold_ != nullptr) {
      EXPECT_TRUE(hold_->wait_for(troupe::test::long_wait));
    }
    hold_ = nullptr;
    return self().id();
  }
  void on(int) { ++count_; }
  int on(flush) { return count_; }
  troupe::test::gate* hold_;
  int count_ = 0;
};

std::vector<troupe::actor_ref<routee>> spawn_routees(troupe::actor_system& sys, int n) {
  std::vector<troupe::actor_ref<routee>> v;
  for (int i = 0; i < n; ++i) v.push_back(sys.spawn<routee>());
  return v;
}

TEST(Router, RoundRobinSpreadsEvenly) {
  troupe::actor_system sys;
  auto rs = spawn_routees(sys, 4);
  troupe::router<routee> r(rs, troupe::routing::round_robin);
  for (int i = 0; i < 400; ++i) r.tell(i);
  for (auto& x : rs) EXPECT_EQ(x.ask(flush{}, 10s).get().value(), 100);
}

TEST(Router, BroadcastReachesAll) {
  troupe::actor_system sys;
  auto rs = spawn_routees(sys, 3);
  troupe::router<routee> r(rs, troupe::routing::broadcast);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(r.tell(i), troupe::send_result::ok);
  for (auto& x : rs) EXPECT_EQ(x.ask(flush{}, 10s).get().value(), 10);
}

TEST(Router, RandomReachesEveryRoutee) {
  troupe::actor_system sys;
  auto rs = spawn_routees(sys, 3);
  troupe::router<routee> r(rs, troupe::routing::random);
  for (int i = 0; i < 3000; ++i) r.tell(i);
  int total = 0;
  for (auto& x : rs) {
    const int n = x.ask(flush{}, 10s).get().value();
    EXPECT_GT(n, 0);
    total += n;
  }
  EXPECT_EQ(total, 3000);
}

TEST(Router, ConsistentHashKeepsAKeyOnOneRoutee) {
  troupe::actor_system sys;
  auto rs = spawn_routees(sys, 5);
  troupe::router<routee> r(rs, troupe::routing::consistent_hash);
  std::map<std::uint64_t, int> used;
  for (int k = 0; k < 50; ++k) {
    const std::string key = "user-" + std::to_string(k);
    const auto first = r.ask(keyed{key}, 10s).get().value();
    for (int rep = 0; rep < 3; ++rep) EXPECT_EQ(r.ask(keyed{key}, 10s).get().value(), first);
    ++used[first];
  }
  EXPECT_GE(used.size(), 3u);  // 50 keys spread over several routees
}

TEST(Router, SmallestMailboxAvoidsTheBusyRoutee) {
  troupe::actor_system sys;
  troupe::test::gate hold;
  troupe::test::gate_opener release(hold);
  auto busy = sys.spawn<routee>(&hold);
  auto idle = sys.spawn<routee>();
  auto blocked = busy.ask(who{}, 10s);  // busy is now stuck in a handler
  // and has a backlog larger than a turn's quantum (depth counts messages
  // taken in the current turn too, so a busy-but-fast actor can show up to 64)
  for (int i = 0; i < 200; ++i) busy.tell(i);
  troupe::router<routee> r({busy, idle}, troupe::routing::smallest_mailbox);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(r.ask(keyed{"x"}, 10s).get().value(), idle.id());
  hold.open();
  EXPECT_TRUE(blocked.get().ok());
}

TEST(Router, RejectsEmptyRouteeSets) {
  EXPECT_THROW(troupe::router<routee>({}, troupe::routing::round_robin), std::invalid_argument);
  EXPECT_THROW(troupe::router<routee>({troupe::actor_ref<routee>{}}, troupe::routing::round_robin), std::invalid_argument);
}

} // namespace
} // namespace toolkit
