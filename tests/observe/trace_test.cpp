// W3C trace context: its text form, and its travel with messages inside one
// system (tells, asks, continuations, coroutine handlers) with each traced
// handler reported as a span.
#include <gtest/gtest.h>

#include <mutex>
#include <optional>
#include <vector>

#include "support/captured_log.hpp"
#include "support/span_log.hpp"
#include "support/test_support.hpp"
#include "troupe/troupe.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::message_span;
using troupe::trace_context;

TEST(TraceContext, TraceparentRoundTripsAndBadHeadersStartNoTrace) {
  const auto t = trace_context::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->trace_id[0], 0x4b);
  EXPECT_EQ(t->span_id[7], 0xb7);
  EXPECT_EQ(t->flags, 1);
  EXPECT_EQ(t->traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  for (const char* bad : {
           "",                                                          // empty
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // another version
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  // uppercase
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   // short
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  // separators
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",  // not hex
       }) {
    EXPECT_FALSE(trace_context::parse(bad).has_value()) << bad;
  }
  const auto a = trace_context::new_trace(), b = trace_context::new_trace();
  EXPECT_TRUE(a.valid());
  EXPECT_NE(a.trace_id, b.trace_id);
  EXPECT_EQ(trace_context::parse(a.traceparent()), a);
}

using troupe::test::span_log;

/// Waits until `log` holds `n` spans.
void wait_for(span_log& log, std::size_t n) {
  EXPECT_TRUE(troupe::test::wait_until([&] { return log.size() >= n; }, troupe::test::long_wait));
}

troupe::system_config traced_config(span_log& log) {
  return troupe::system_config{.threads = 2, .on_message_span = log.hook()};
}

struct seen {
  std::optional<trace_context> trace;
};
using seen_inbox = troupe::inbox<seen>;

struct last_hop : troupe::actor<last_hop> {
  explicit last_hop(troupe::actor_ref<seen_inbox::actor_type> out) : out_(std::move(out)) {}
  struct hop {};
  void on(hop) { out_.tell(seen{troupe::current_trace()}); }
  troupe::actor_ref<seen_inbox::actor_type> out_;
};

struct first_hop : troupe::actor<first_hop> {
  explicit first_hop(troupe::actor_ref<last_hop> next) : next_(std::move(next)) {}
  struct go {};
  void on(go) { next_.tell(last_hop::hop{}); }
  troupe::actor_ref<last_hop> next_;
};

TEST(TraceContext, EachHandlerIsASpanOfTheSendersTraceAndPassesItOn) {
  span_log log;
  troupe::actor_system sys(traced_config(log));
  seen_inbox out(sys);
  auto last = sys.spawn<last_hop>(out.ref());
  auto first = sys.spawn<first_hop>(last);
  const trace_context root = trace_context::new_trace();
  {
    troupe::trace_scope scope(root);
    EXPECT_EQ(troupe::current_trace(), root);
    first.tell(first_hop::go{});
  }
  EXPECT_FALSE(troupe::current_trace().has_value()) << "the scope ended";
  const auto got = out.receive(troupe::test::long_wait);
  ASSERT_TRUE(got && got->trace);
  wait_for(log, 2);
  const auto a = log.of<first_hop::go>(), b = log.of<last_hop::hop>();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->context.trace_id, root.trace_id);
  EXPECT_EQ(b->context.trace_id, root.trace_id);
  EXPECT_EQ(a->parent_span_id, root.span_id);       // main's scope sent it
  EXPECT_EQ(b->parent_span_id, a->context.span_id);  // first_hop's handler sent it
  EXPECT_NE(a->context.span_id, b->context.span_id);
  EXPECT_EQ(got->trace->span_id, b->context.span_id) << "current_trace() in a handler is its own span";
  EXPECT_EQ(a->actor_id, first.id());
  EXPECT_LE(a->start, a->end);
}

TEST(TraceContext, MessagesWithoutAContextAreNotSpans) {
  span_log log;
  troupe::actor_system sys(traced_config(log));
  seen_inbox out(sys);
  auto last = sys.spawn<last_hop>(out.ref());
  sys.spawn<first_hop>(last).tell(first_hop::go{});
  const auto got = out.receive(troupe::test::long_wait);
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->trace.has_value());
  EXPECT_EQ(log.size(), 0u);
}

struct doubler : troupe::actor<doubler> {
  int on(int x) { return 2 * x; }
};

/// Asks the doubler, then (in the continuation) passes the answer on.
struct asker : troupe::actor<asker> {
  asker(troupe::actor_ref<doubler> d, troupe::actor_ref<last_hop> next) : d_(std::move(d)), next_(std::move(next)) {}
  struct go {};
  void on(go) {
    ask(d_, 21, 10s, [this](troupe::result<int> r) {
      if (r.ok()) next_.tell(last_hop::hop{});
    });
  }
  troupe::actor_ref<doubler> d_;
  troupe::actor_ref<last_hop> next_;
};

/// The same with co_await.
struct coro_asker : troupe::actor<coro_asker> {
  coro_asker(troupe::actor_ref<doubler> d, troupe::actor_ref<last_hop> next) : d_(std::move(d)), next_(std::move(next)) {}
  struct go {};
  troupe::task<void> on(go) {
    auto r = co_await ask(d_, 21, 10s);
    if (r.ok()) next_.tell(last_hop::hop{});
  }
  troupe::actor_ref<doubler> d_;
  troupe::actor_ref<last_hop> next_;
};

template <class Asker>
void expect_the_continuation_resumes_in_the_askers_span() {
  span_log log;
  troupe::actor_system sys(traced_config(log));
  seen_inbox out(sys);
  auto last = sys.spawn<last_hop>(out.ref());
  auto a = sys.spawn<Asker>(sys.spawn<doubler>(), last);
  const trace_context root = trace_context::new_trace();
  {
    troupe::trace_scope scope(root);
    a.tell(typename Asker::go{});
  }
  ASSERT_TRUE(out.receive(troupe::test::long_wait));
  wait_for(log, 3);
  const auto go = log.template of<typename Asker::go>(), ask = log.template of<int>(),
             hop = log.template of<last_hop::hop>();
  ASSERT_TRUE(go && ask && hop);
  EXPECT_EQ(ask->context.trace_id, root.trace_id);
  EXPECT_EQ(ask->parent_span_id, go->context.span_id) << "the ask carries the asker's span";
  EXPECT_EQ(hop->context.trace_id, root.trace_id);
  EXPECT_EQ(hop->parent_span_id, go->context.span_id) << "the continuation sent under the asker's span";
}

TEST(TraceContext, AnAskCarriesItAndTheContinuationResumesInTheAskersSpan) {
  expect_the_continuation_resumes_in_the_askers_span<asker>();
}

TEST(TraceContext, ACoroutineHandlerKeepsItsSpanAcrossCoAwait) {
  expect_the_continuation_resumes_in_the_askers_span<coro_asker>();
}

TEST(TraceContext, AHookThatThrowsIsLoggedAndTheActorGoesOn) {
  troupe::test::captured_log captured;
  troupe::system_config c;
  c.threads = 1;
  c.on_message_span = [](const message_span&) { throw std::runtime_error("exporter down"); };
  troupe::actor_system sys(c);
  auto d = sys.spawn<doubler>();
  {
    troupe::trace_scope scope(trace_context::new_trace());
    EXPECT_EQ(d.ask(1, 10s).get().value(), 2);
    EXPECT_EQ(d.ask(2, 10s).get().value(), 4);
  }
  EXPECT_TRUE(troupe::test::wait_until([&] { return captured.contains("on_message_span threw: exporter down (the span is lost; the actor goes on)"); },
                                       troupe::test::long_wait));
}

} // namespace
