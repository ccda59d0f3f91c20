// Publish/subscribe: a price feed publishes ticks to three subscribers.
// One is slow and has a small mailbox that drops old ticks (drop_oldest,
// capacity 4); it never slows the others, which see every tick, and every
// tick it did not see is counted. A subscriber that stops is removed from
// the topic on its own.
#include <troupe/troupe.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

namespace {

struct tick {
  int seq;
  double price;
};
struct report {
  std::string who;
  int received;
  int last_seq;
};
using report_ref = troupe::actor_ref<troupe::inbox<report>::actor_type>;
struct flush {};

struct subscriber : troupe::actor<subscriber> {
  subscriber(std::string name, report_ref out, std::chrono::microseconds work)
      : name_(std::move(name)), out_(std::move(out)), work_(work) {}
  void on(tick t) {
    ++received_;
    last_ = t.seq;
    if (work_.count() > 0) std::this_thread::sleep_for(work_);  // a slow consumer (it could be I/O)
  }
  void on(flush) { out_.tell(report{name_, received_, last_}); }
  std::string name_;
  report_ref out_;
  std::chrono::microseconds work_;
  int received_ = 0, last_ = -1;
};

} // namespace

int main() {
  using namespace std::chrono_literals;
  troupe::actor_system sys;
  troupe::inbox<report> reports(sys);
  troupe::topic<tick> prices;

  auto fast1 = sys.spawn_with<subscriber>({.mailbox = troupe::mailbox_options::make_unbounded()}, "fast-1",
                                          reports.ref(), 0us);
  auto fast2 = sys.spawn_with<subscriber>({.mailbox = troupe::mailbox_options::make_unbounded()}, "fast-2",
                                          reports.ref(), 0us);
  auto slow = sys.spawn_with<subscriber>(
      {.mailbox = {.capacity = 4, .policy = troupe::overflow::drop_oldest}}, "slow", reports.ref(), 200us);
  auto quitter = sys.spawn<subscriber>("quitter", reports.ref(), 0us);
  prices.subscribe(fast1);
  prices.subscribe(fast2);
  prices.subscribe(slow);
  prices.subscribe(quitter);

  constexpr int ticks = 20'000;
  quitter.stop();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (sys.stats().stopped == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < ticks; ++i) prices.publish(tick{i, 100.0 + i * 0.01});
  std::printf("pubsub: published %d ticks; subscribers left: %zu (the one that stopped was removed)\n", ticks,
              prices.size());

  // A full drop_oldest mailbox refuses new messages past twice its capacity
  // (it only evicts when its owner runs): let the slow one catch up before
  // asking it for its report.
  const auto drain_deadline = std::chrono::steady_clock::now() + 30s;
  while (slow.mailbox_depth() > 4 && std::chrono::steady_clock::now() < drain_deadline) std::this_thread::sleep_for(1ms);
  for (auto* s : {&fast1, &fast2, &slow}) s->tell(flush{});
  bool ok = prices.size() == 3;
  int slow_received = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = reports.receive(30s);
    if (!r) return 1;
    std::printf("  %-7s received %5d ticks, last #%d\n", r->who.c_str(), r->received, r->last_seq);
    if (r->who != "slow") ok = ok && r->received == ticks;
    else slow_received = r->received;
  }
  const auto st = sys.stats();
  const auto evicted = st.dead(troupe::drop_reason::dropped_oldest);
  const auto refused = st.dead(troupe::drop_reason::dropped_newest);
  std::printf("pubsub: the fast subscribers saw every tick; the slow one saw %d, %llu were evicted as oldest and\n"
              "        %llu refused while its mailbox was at twice its capacity: %s\n",
              slow_received, static_cast<unsigned long long>(evicted), static_cast<unsigned long long>(refused),
              static_cast<std::uint64_t>(slow_received) + evicted + refused == ticks ? "every tick accounted for"
                                                                                    : "MISMATCH");
  ok = ok && static_cast<std::uint64_t>(slow_received) + evicted + refused == ticks;
  return ok ? 0 : 1;
}
