// A remote proxy alone, turn by turn (support/proxy_turns.hpp): what it
// hands its link, when it stops and parks, what wakes it, and what its
// watchers, linked actors and askers are told when its node goes down.
// No transport: the link records; the proxy's turns run only when the test
// says so.
#include <gtest/gtest.h>

#include <string>

#include <troupe/troupe.hpp>

#include "support/proxy_turns.hpp"
#include "support/test_support.hpp"

namespace proxy_test {

struct note {
  std::string text;
};

} // namespace proxy_test

template <>
struct troupe::codec<proxy_test::note> {
  static constexpr std::string_view name = "proxy_test.note";
  static void encode(const proxy_test::note& n, std::string& out) { out += n.text; }
  static bool decode(std::string_view in, proxy_test::note& n) {
    n.text = std::string(in);
    return true;
  }
};

namespace proxy_test {
namespace {

using namespace std::chrono_literals;
using troupe::test::long_wait;
using troupe::test::proxy_turns;
using troupe::test::recording_link;
using kind = troupe::detail::control_signal::kind;

/// The remote actor, as a handle-only interface.
struct remote_api : troupe::interface {
  void on(note);
  note on(int);
};

/// Watches (or links to) the actor it is told about, and reports what it hears.
struct watcher : troupe::actor<watcher> {
  struct watch {
    troupe::actor_ref<remote_api> target;
    bool link = false;
  };
  explicit watcher(troupe::actor_ref<troupe::inbox<troupe::down>::actor_type> out) : out_(std::move(out)) {}
  void on(watch w) {
    if (w.link) {
      link(w.target);
    } else {
      monitor(w.target);
    }
  }
  void on(troupe::down d) { out_.tell(std::move(d)); }
  troupe::actor_ref<troupe::inbox<troupe::down>::actor_type> out_;
};

struct proxy_fixture : ::testing::Test {
  troupe::actor_system sys{troupe::system_config{.threads = 2}};
  std::shared_ptr<recording_link> link = std::make_shared<recording_link>();
  std::unique_ptr<proxy_turns> turns;
  troupe::detail::cell_ptr cell;
  troupe::actor_ref<remote_api> ref;
  proxy_fixture() {
    auto made = proxy_turns::make<remote_api>(sys, link, 42);
    turns = std::move(made.first);
    cell = std::move(made.second);
    ref = troupe::actor_ref<remote_api>::from_cell(cell.get());
  }
  ~proxy_fixture() override {
    proxy().node_down("test over");
    link->wake_parked();
    turns->run();
  }
  troupe::detail::remote_proxy& proxy() { return static_cast<troupe::detail::remote_proxy&>(*cell); }
  /// Waits until something scheduled a turn from another thread.
  bool turn_asked() {
    return troupe::test::wait_until([&] { return turns->scheduled() > 0; }, long_wait);
  }
  /// `w` monitors (or links to) the proxy's actor, and the proxy's turn takes the request.
  void watch_from(const troupe::actor_ref<watcher>& w, bool link_to = false) {
    w.tell(watcher::watch{ref, link_to});
    ASSERT_TRUE(turn_asked());
    turns->run();
  }
};

TEST_F(proxy_fixture, HandsWhatIsToldToItsLinkInOrderInOneTurnEncodedBySenders) {
  for (const char* t : {"a", "b", "c"}) ASSERT_EQ(ref.tell(note{t}), troupe::send_result::ok);
  EXPECT_EQ(turns->scheduled(), 1) << "the first send schedules the proxy; the others find it busy";
  EXPECT_EQ(turns->run(), 1);
  EXPECT_EQ(link->forwarded, (std::vector<std::string>{"a", "b", "c"}))
      << "wire envelopes, encoded by tell on the sender's thread";
  EXPECT_EQ(link->turns, 1);
}

TEST_F(proxy_fixture, StopsWhenItsLinkTakesNoMoreAndParksUntilWoken) {
  link->ready_now = false;
  ASSERT_EQ(ref.tell(note{"x"}), troupe::send_result::ok);
  ASSERT_EQ(ref.tell(note{"y"}), troupe::send_result::ok);
  turns->run();
  EXPECT_TRUE(link->forwarded.empty());
  ASSERT_EQ(link->parked.size(), 1u) << "parked on its link, which keeps it";
  EXPECT_EQ(turns->scheduled(), 0) << "parked: nothing runs it";
  ASSERT_EQ(ref.tell(note{"z"}), troupe::send_result::ok);
  EXPECT_EQ(turns->scheduled(), 0) << "a parked proxy keeps its token: senders schedule nothing";
  link->ready_now = true;
  link->wake_parked();
  EXPECT_EQ(turns->scheduled(), 1);
  turns->run();
  EXPECT_EQ(link->forwarded, (std::vector<std::string>{"x", "y", "z"}));
  proxy().wake();  // a stale wake-up (the link woke it twice) schedules nothing
  EXPECT_EQ(turns->scheduled(), 0);
}

TEST_F(proxy_fixture, ALinkThatTakesMoreAgainAtParkTimeLetsItGoOnAtOnce) {
  link->ready_now = false;
  link->keep_parked = false;  // it drained while the turn ended
  ASSERT_EQ(ref.tell(note{"x"}), troupe::send_result::ok);
  EXPECT_EQ(turns->run(1), 1);
  EXPECT_EQ(turns->scheduled(), 1) << "it yields instead of parking";
  link->ready_now = true;
  turns->run();
  EXPECT_EQ(link->forwarded, (std::vector<std::string>{"x"}));
}

TEST_F(proxy_fixture, AParkedProxyServesItsSystemLaneAndItsNodeDownEndsTheWait) {
  link->ready_now = false;
  ASSERT_EQ(ref.tell(note{"waits"}), troupe::send_result::ok);
  turns->run();
  ASSERT_EQ(link->parked.size(), 1u);
  ref.kill();  // a system message wakes a parked proxy (before: only its own credit event did)
  ASSERT_EQ(turns->scheduled(), 1);
  turns->run();
  ASSERT_EQ(link->signals.size(), 1u);
  EXPECT_EQ(link->signals[0].what, kind::stop);
  EXPECT_EQ(link->signals[0].why, troupe::exit_reason::killed);
  EXPECT_TRUE(link->forwarded.empty()) << "still not ready: the user message waits";
  auto answer = ref.ask(1, long_wait);
  proxy().node_down("the peer is gone");
  turns->run();
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::node_down), 2u) << "the waiting tell and the ask";
  auto r = answer.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), troupe::ask_error::node_down);
  EXPECT_EQ(ref.tell(note{"late"}), troupe::send_result::dead);
}

TEST_F(proxy_fixture, AMonitorBecomesASignalAndTheRemoteDownReachesTheWatcher) {
  troupe::inbox<troupe::down> downs(sys);
  auto w = sys.spawn<watcher>(downs.ref());
  watch_from(w);
  ASSERT_EQ(link->signals.size(), 1u);
  EXPECT_EQ(link->signals[0].what, kind::monitor);
  const std::uint64_t monitor_ref = link->signals[0].ref;
  proxy().remote_down(monitor_ref + 1, troupe::exit_reason::exception, "not ours");  // nobody's monitor: dropped
  proxy().remote_down(monitor_ref, troupe::exit_reason::exception, "boom");
  turns->run();
  auto d = downs.receive(long_wait);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason, troupe::exit_reason::exception);
  EXPECT_EQ(d->what, "boom");
  EXPECT_EQ(d->actor.id(), 42u);
  EXPECT_FALSE(downs.receive(50ms).has_value()) << "one down, for the one monitor";
}

TEST_F(proxy_fixture, ItsNodeDownTellsWatchersAndStopsLinkedActors) {
  troupe::inbox<troupe::down> downs(sys);
  auto w = sys.spawn<watcher>(downs.ref());
  watch_from(w);
  auto linked = sys.spawn<watcher>(downs.ref());
  watch_from(linked, true);
  ASSERT_EQ(link->signals.size(), 2u);
  EXPECT_EQ(link->signals[1].what, kind::link);
  EXPECT_EQ(link->signals[1].local, linked.id());
  proxy().node_down("cable cut");
  turns->run();
  auto d = downs.receive(long_wait);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason, troupe::exit_reason::node_down);
  EXPECT_EQ(d->what, "cable cut");
  EXPECT_TRUE(troupe::test::wait_until([&] { return sys.stats().stopped >= 1; }, long_wait))
      << "the linked actor stops with its remote partner's node";
}

TEST_F(proxy_fixture, TheOutboxSendsTheDownOfALocalActorThePeerWatches) {
  auto [outbox_turns, outbox_cell] = proxy_turns::make<remote_api>(sys, link, 0);
  auto& outbox = static_cast<troupe::detail::remote_proxy&>(*outbox_cell);
  troupe::inbox<troupe::down> unused(sys);
  auto local = sys.spawn<watcher>(unused.ref());
  outbox.monitor_local(*local.cell(), 9);
  local.kill();
  // (Through a pointer: clang 14 cannot capture a structured binding.)
  troupe::test::proxy_turns* turns = outbox_turns.get();
  ASSERT_TRUE(troupe::test::wait_until([turns] { return turns->scheduled() > 0; }, long_wait));
  outbox_turns->run();
  ASSERT_EQ(link->signals.size(), 1u);
  EXPECT_EQ(link->signals[0].what, kind::down);
  EXPECT_EQ(link->signals[0].local, local.id());
  EXPECT_EQ(link->signals[0].ref, 9u);
  EXPECT_EQ(link->signals[0].why, troupe::exit_reason::killed);
  outbox.node_down("test over");
  outbox_turns->run();
}


// -- a handle outlives its session ------------------------------------------------

TEST_F(proxy_fixture, ASessionThatEndsDetachesItUntilARebindAndTheSameHandleServesTheNextOne) {
  troupe::inbox<troupe::down> downs(sys);
  auto w = sys.spawn<watcher>(downs.ref());
  watch_from(w);
  ASSERT_EQ(link->signals.size(), 1u);
  ASSERT_EQ(ref.tell(note{"queued"}), troupe::send_result::ok);
  proxy().node_down("cable cut", link.get(), /*for_good=*/false);
  turns->run();
  auto d = downs.receive(long_wait);
  ASSERT_TRUE(d.has_value()) << "monitors set in the session that ended fire";
  EXPECT_EQ(d->reason, troupe::exit_reason::node_down);
  EXPECT_TRUE(link->forwarded.empty()) << "what waited is not handed to the ended session";
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::node_down), 1u);
  EXPECT_TRUE(proxy().refusing());
  EXPECT_EQ(ref.tell(note{"refused"}), troupe::send_result::dead);
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::node_down), 2u);
  EXPECT_FALSE(cell->box().is_closed()) << "detached, not closed";
  watch_from(w);
  d = downs.receive(long_wait);
  ASSERT_TRUE(d.has_value()) << "a monitor set while detached fires at once";
  EXPECT_EQ(d->reason, troupe::exit_reason::node_down);

  auto next = std::make_shared<recording_link>();
  proxy().rebind(next);
  EXPECT_FALSE(proxy().refusing());
  EXPECT_EQ(ref.tell(note{"after"}), troupe::send_result::ok) << "taken before the proxy has run";
  turns->run();
  EXPECT_EQ(next->forwarded, (std::vector<std::string>{"after"}));
  watch_from(w);
  ASSERT_EQ(next->signals.size(), 1u);
  EXPECT_EQ(next->signals[0].what, kind::monitor) << "a monitor set again reaches the new session";
  EXPECT_EQ(link->signals.size(), 1u) << "and nothing the ended one";
  proxy().node_down("a late word about the old session", link.get(), false);
  turns->run();
  EXPECT_EQ(ref.tell(note{"still served"}), troupe::send_result::ok);
  turns->run();
  EXPECT_EQ(next->forwarded, (std::vector<std::string>{"after", "still served"}))
      << "a down for a session the proxy left changes nothing";
  EXPECT_FALSE(downs.receive(50ms).has_value());
}

TEST_F(proxy_fixture, ARebindThatComesBeforeTheProxySawItsSessionEndLetsEverythingThrough) {
  ASSERT_EQ(ref.tell(note{"a"}), troupe::send_result::ok);
  auto next = std::make_shared<recording_link>();
  proxy().node_down("cut", link.get(), false);
  proxy().rebind(next);  // the next session came up before the proxy ran
  ASSERT_EQ(ref.tell(note{"b"}), troupe::send_result::ok);
  turns->run();
  EXPECT_FALSE(proxy().refusing()) << "never refused: a rebind was on its way";
  EXPECT_EQ(next->forwarded, (std::vector<std::string>{"a", "b"})) << "in order, through the new session";
  EXPECT_TRUE(link->forwarded.empty());
  EXPECT_EQ(sys.stats().dead(troupe::drop_reason::node_down), 0u);
}

TEST_F(proxy_fixture, ADetachedProxyWhoseIncarnationIsGoneClosesForGood) {
  proxy().node_down("cut", link.get(), false);
  turns->run();
  ASSERT_TRUE(proxy().refusing());
  proxy().node_down("a new incarnation connected", nullptr, true);
  turns->run();
  EXPECT_TRUE(cell->box().is_closed());
  EXPECT_EQ(ref.tell(note{"late"}), troupe::send_result::dead);
  auto answer = ref.ask(1, long_wait).get();
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.error(), troupe::ask_error::node_down);
}

} // namespace
} // namespace proxy_test
