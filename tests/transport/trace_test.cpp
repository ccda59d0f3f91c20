// Trace context across the network: a trace started in one process's main
// reaches an actor on another node over TCP (the Envelope's field 7), and
// the continuation of that remote ask resumes under the asker's span.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "support/span_log.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

using troupe::message_span;
using troupe::trace_context;
using troupe_test::Ping;
using troupe_test::Pong;

using troupe::test::span_log;

troupe::system_config traced(span_log& log) {
  troupe::system_config c = two_threads();
  c.on_message_span = [&log](const message_span& s) { log.add(s); };
  return c;
}

struct done {};
using done_inbox = troupe::inbox<done>;

/// On `go`, asks the remote echo and, when it answers, tells the local finisher.
struct remote_asker : troupe::actor<remote_asker> {
  remote_asker(troupe::actor_ref<echo> remote, troupe::actor_ref<done_inbox::actor_type> out)
      : remote_(std::move(remote)), out_(std::move(out)) {}
  struct go {};
  void on(go) {
    Ping p;
    p.set_seq(7);
    ask(remote_, p, 10s, [this](troupe::result<Pong> r) {
      if (r.ok()) out_.tell(done{});
    });
  }
  troupe::actor_ref<echo> remote_;
  troupe::actor_ref<done_inbox::actor_type> out_;
};

TEST(TraceAcrossNodes, TwoNodesSpansShareOneTraceId) {
  span_log log_a, log_b;
  troupe::actor_system sys_a{traced(log_a)}, sys_b{traced(log_b)};
  troupe::node a(sys_a, node_opts("alpha")), b(sys_b, node_opts("beta"));
  b.publish("echo", sys_b.spawn<echo>());
  auto p = a.connect("127.0.0.1", b.port(), 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  auto remote = p.value().lookup<echo>("echo", 10s);
  ASSERT_TRUE(remote.ok()) << remote.message();
  done_inbox out(sys_a);
  auto asker = sys_a.spawn<remote_asker>(remote.value(), out.ref());

  const trace_context root = trace_context::new_trace();
  {
    troupe::trace_scope scope(root);
    asker.tell(remote_asker::go{});
  }
  ASSERT_TRUE(out.receive(troupe::test::long_wait));
  std::optional<message_span> go, ping;
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        go = log_a.of<remote_asker::go>();
        ping = log_b.of<Ping>();
        return go && ping;
      },
      troupe::test::long_wait));
  EXPECT_EQ(go->context.trace_id, root.trace_id);
  EXPECT_EQ(ping->context.trace_id, root.trace_id) << "beta's span is in alpha's trace";
  EXPECT_EQ(ping->parent_span_id, go->context.span_id) << "its parent is the asking handler on alpha";
  EXPECT_NE(ping->context.span_id, go->context.span_id);

  // Untraced traffic on the same link stays untraced on the other side.
  const std::size_t before = log_b.size();
  Ping plain;
  plain.set_seq(8);
  ASSERT_TRUE(remote.value().ask(plain, 10s).get().ok());
  EXPECT_EQ(log_b.size(), before);
}

} // namespace
} // namespace transport_test
