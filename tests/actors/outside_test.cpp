// Tests of what a thread outside the actor system waits with: an ask's
// future (get, wait_for, then, Asio's async_get), an inbox of several
// types that monitors, and actor_system::await_stopped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#if defined(BOOST_ASIO_HAS_CO_AWAIT)  // Boost 1.74: g++ in C++20, not clang 14 with libstdc++
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#endif

#include <troupe/actors/asio_future.hpp>
#include <troupe/troupe.hpp>

#include "actors/test_actors.hpp"

namespace {

using namespace troupe::test::prelude;
using troupe::down;
using troupe::inbox;

struct release {};

/// Answers an int ask only when told `release` (with the number asked);
/// asks not released are answered actor_stopped when it stops.
struct holder : actor<holder> {
  troupe::promise<int> on(int x) {
    auto p = make_promise<int>();
    held_.emplace_back(x, p);
    return p;
  }
  void on(release) {
    for (auto& [x, p] : held_) p.deliver(x);
    held_.clear();
  }
  std::vector<std::pair<int, troupe::promise<int>>> held_;
};

struct doubler : actor<doubler> {
  int on(int x) {
    if (x < 0) throw std::invalid_argument("negative");
    return 2 * x;
  }
  void on(std::string what) { throw std::runtime_error(what); }
};

TEST(AskFuture, WaitForSaysWhetherGetWouldBlock) {
  actor_system sys(system_config{.threads = 2});
  auto h = sys.spawn<holder>();
  auto f = h.ask(7, long_wait);
  EXPECT_FALSE(f.wait_for(20ms));  // held: it cannot have come
  EXPECT_FALSE(f.ready());
  h.tell(release{});
  EXPECT_TRUE(f.wait_for(long_wait));
  EXPECT_TRUE(f.ready());
  auto r = f.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 7);

  auto late = h.ask(8, 30ms);  // never released in time
  EXPECT_TRUE(late.wait_for(long_wait));  // its own deadline passed: get() will not block
  EXPECT_FALSE(late.ready());
  EXPECT_EQ(late.get().error(), ask_error::timeout);
  EXPECT_THROW((void)late.wait_for(-1ms), std::invalid_argument);
}

TEST(AskFuture, ThenRunsOnceWithTheReply) {
  actor_system sys(system_config{.threads = 2});
  auto h = sys.spawn<holder>();
  std::atomic<int> calls{0};
  std::promise<result<int>> got;
  h.ask(5, long_wait).then([&](result<int> r) {
    ++calls;
    got.set_value(std::move(r));
  });
  h.tell(release{});
  auto fut = got.get_future();
  ASSERT_EQ(fut.wait_for(long_wait), std::future_status::ready);
  auto r = fut.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 5);
  EXPECT_EQ(calls.load(), 1);
}

TEST(AskFuture, ThenOnAReplyAlreadyHereRunsBeforeItReturns) {
  actor_system sys(system_config{.threads = 2});
  auto d = sys.spawn<doubler>();
  auto f = d.ask(21, long_wait);
  ASSERT_TRUE(f.wait_for(long_wait));
  std::optional<int> seen;
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  f.then([&](result<int> r) {
    seen = *r;
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(seen, 42);
  EXPECT_EQ(ran_on, caller);
}

TEST(AskFuture, ThenGetsTheTimeoutAtTheDeadlineAndNotTheLateReply) {
  actor_system sys(system_config{.threads = 2});
  auto h = sys.spawn<holder>();
  std::atomic<int> calls{0};
  std::promise<result<int>> got;
  const auto start = std::chrono::steady_clock::now();
  h.ask(1, 50ms).then([&](result<int> r) {
    if (++calls == 1) got.set_value(std::move(r));
  });
  auto fut = got.get_future();
  ASSERT_EQ(fut.wait_for(long_wait), std::future_status::ready);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_EQ(fut.get().error(), ask_error::timeout);
  // The late reply settles nothing more.
  auto after = h.ask(2, long_wait);
  h.tell(release{});
  ASSERT_TRUE(after.get());  // the release (and with it the late reply) has been handled
  EXPECT_EQ(calls.load(), 1);
}

TEST(AskFuture, ThenGetsTheFailureOfAHandlerThatThrows) {
  actor_system sys(system_config{.threads = 2});
  auto d = sys.spawn<doubler>();
  std::promise<result<int>> got;
  d.ask(-1, long_wait).then([&](result<int> r) { got.set_value(std::move(r)); });
  auto fut = got.get_future();
  ASSERT_EQ(fut.wait_for(long_wait), std::future_status::ready);
  EXPECT_EQ(fut.get().error(), ask_error::exception);
}

TEST(AskFuture, ThenConsumesTheFuture) {
  actor_system sys(system_config{.threads = 2});
  auto d = sys.spawn<doubler>();
  auto f = d.ask(1, long_wait);
  std::promise<void> done;
  f.then([&](result<int>) { done.set_value(); });
  EXPECT_THROW((void)f.get(), std::logic_error);
  EXPECT_THROW(f.then([](result<int>) {}), std::logic_error);
  EXPECT_EQ(done.get_future().wait_for(long_wait), std::future_status::ready);
}

TEST(AskFuture, AsyncGetCompletesACallbackOnItsExecutor) {
  // Every compiler: a plain completion handler, run by the io_context that
  // waits for it (never by the actor that replied).
  actor_system sys(system_config{.threads = 2});
  auto h = sys.spawn<holder>();
  boost::asio::io_context io;
  std::optional<result<int>> got;
  std::thread::id completed_on;
  troupe::async_get(h.ask(5, long_wait), boost::asio::bind_executor(io, [&](result<int> r) {
                      got = std::move(r);
                      completed_on = std::this_thread::get_id();
                    }));
  h.tell(release{});
  io.run_for(long_wait);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(*got);
  EXPECT_EQ(**got, 5);
  EXPECT_EQ(completed_on, std::this_thread::get_id());
}

TEST(AskFuture, AsyncGetCompletesAStdFuture) {
  actor_system sys(system_config{.threads = 2});
  auto h = sys.spawn<holder>();
  std::future<result<int>> f = troupe::async_get(h.ask(3, 20ms), boost::asio::use_future);
  ASSERT_EQ(f.wait_for(long_wait), std::future_status::ready);
  EXPECT_EQ(f.get().error(), ask_error::timeout);
}

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
TEST(AskFuture, AsyncGetCompletesAnAsioCoroutineOnItsExecutor) {
  actor_system sys(system_config{.threads = 2});
  auto h = sys.spawn<holder>();
  boost::asio::io_context io;
  std::atomic<bool> waiting{false};
  std::optional<result<int>> got;
  std::thread::id completed_on;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto f = h.ask(9, long_wait);
        waiting = true;
        got = co_await troupe::async_get(std::move(f), boost::asio::use_awaitable);
        completed_on = std::this_thread::get_id();
      },
      boost::asio::detached);
  // The release comes only once the coroutine waits, so run() has nothing
  // to do for a while: it must not return, the pending ask is its work.
  std::thread releaser([&] {
    while (!waiting) std::this_thread::yield();
    h.tell(release{});
  });
  io.run_for(long_wait);
  releaser.join();
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(*got);
  EXPECT_EQ(**got, 9);
  EXPECT_EQ(completed_on, std::this_thread::get_id());
}

TEST(AskFuture, AsyncGetReportsAFailure) {
  actor_system sys(system_config{.threads = 2});
  auto h = sys.spawn<holder>();
  boost::asio::io_context io;
  std::optional<result<int>> got;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        got = co_await troupe::async_get(h.ask(3, 20ms), boost::asio::use_awaitable);
      },
      boost::asio::detached);
  io.run_for(long_wait);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error(), ask_error::timeout);
}
#endif  // BOOST_ASIO_HAS_CO_AWAIT

TEST(InboxOfSeveralTypes, ReceivesEachAsTheVariantOfItsType) {
  actor_system sys(system_config{.threads = 1});
  inbox<int, std::string> in(sys);
  static_assert(std::is_same_v<decltype(in)::value_type, std::variant<int, std::string>>);
  ASSERT_EQ(in.ref().tell(1), send_result::ok);
  ASSERT_EQ(in.ref().tell(std::string("two")), send_result::ok);
  auto a = in.receive(long_wait);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->index(), 0u);
  EXPECT_EQ(std::get<int>(*a), 1);
  auto b = in.receive(long_wait);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->index(), 1u);
  EXPECT_EQ(std::get<std::string>(*b), "two");
  EXPECT_EQ(in.receive(10ms), std::nullopt);
}

TEST(InboxOfSeveralTypes, MonitorsAnActorAndReceivesItsDown) {
  actor_system sys(system_config{.threads = 2});
  inbox<int, down> in(sys);
  auto d = sys.spawn<doubler>();
  const auto id = in.monitor(d);
  d.tell(std::string("crash"));
  auto m = in.receive(long_wait);
  ASSERT_TRUE(m);
  ASSERT_TRUE(std::holds_alternative<down>(*m));
  const down& got = std::get<down>(*m);
  EXPECT_TRUE(got.actor == d);
  EXPECT_EQ(got.reason, troupe::exit_reason::exception);
  EXPECT_EQ(got.what, "crash");
  EXPECT_EQ(got.monitor, id);

  // An actor already stopped answers at once.
  in.monitor(d);
  auto again = in.receive(long_wait);
  ASSERT_TRUE(again && std::holds_alternative<down>(*again));
  EXPECT_EQ(std::get<down>(*again).reason, troupe::exit_reason::exception);
}

TEST(InboxOfSeveralTypes, ADemonitoredActorsDownIsNotReceived) {
  actor_system sys(system_config{.threads = 2});
  inbox<int, down> in(sys);
  auto d = sys.spawn<doubler>();
  in.demonitor(in.monitor(d));
  d.stop();
  ASSERT_TRUE(sys.await_stopped(d, long_wait));
  in.ref().tell(5);
  auto m = in.receive(long_wait);
  ASSERT_TRUE(m);
  ASSERT_TRUE(std::holds_alternative<int>(*m));
  EXPECT_EQ(std::get<int>(*m), 5);
  EXPECT_EQ(in.receive(20ms), std::nullopt);
}

TEST(AwaitStopped, ReturnsTheDownOfAnActorThatStops) {
  actor_system sys(system_config{.threads = 2});
  auto d = sys.spawn<doubler>();
  std::thread stopper([&] { d.tell(std::string("gone")); });
  auto got = sys.await_stopped(d, long_wait);
  stopper.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->reason, troupe::exit_reason::exception);
  EXPECT_EQ(got->what, "gone");
  auto again = sys.await_stopped(d, long_wait);  // already stopped: at once
  ASSERT_TRUE(again);
  EXPECT_EQ(again->reason, troupe::exit_reason::exception);
}

TEST(AwaitStopped, TimesOutOnALiveActorAndRefusesBadArguments) {
  actor_system sys(system_config{.threads = 2});
  auto d = sys.spawn<doubler>();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sys.await_stopped(d, 30ms), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  auto r = d.ask(4, long_wait).get();  // still alive and answering
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 8);
  EXPECT_THROW((void)sys.await_stopped(troupe::any_ref{}, 1s), std::invalid_argument);
  EXPECT_THROW((void)sys.await_stopped(d, -1s), std::invalid_argument);
}

} // namespace
