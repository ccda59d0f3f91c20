// Trace context across the network: a trace started in one process's main
// reaches an actor on another node over TCP (the Envelope's field 7), and
// the continuation of that remote ask resumes under the asker's span; over
// a Unix socket and shared memory too, where a large buffer goes as a
// TRANSFER frame (its own encoding of the same field).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
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
  c.on_message_span = log.hook();
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

/// Takes pings and buffers, and says when it has had each.
struct traced_sink : troupe::actor<traced_sink> {
  using remote_interface = troupe::accepts<Ping, troupe::shared_bytes>;
  explicit traced_sink(troupe::actor_ref<done_inbox::actor_type> out) : out_(std::move(out)) {}
  void on(const Ping&) { out_.tell(done{}); }
  void on(troupe::shared_bytes) { out_.tell(done{}); }
  troupe::actor_ref<done_inbox::actor_type> out_;
};

/// Alpha tells beta's sink a ping and a buffer of `buffer_bytes` under one
/// trace, over the link `connect` makes; both of beta's spans are in it.
void expect_traced_over(const std::function<troupe::result<troupe::peer>(troupe::node&)>& connect,
                        troupe::node_options beta_opts, std::size_t buffer_bytes, std::uint64_t transfers) {
  span_log log_a, log_b;
  troupe::actor_system sys_a{traced(log_a)}, sys_b{traced(log_b)};
  troupe::node a(sys_a, node_opts("alpha"));
  troupe::node b(sys_b, std::move(beta_opts));
  done_inbox out(sys_b);
  b.publish("sink", sys_b.spawn<traced_sink>(out.ref()));
  auto p = connect(a);
  ASSERT_TRUE(p.ok()) << p.message();
  auto sink = p.value().lookup<traced_sink>("sink", 10s);
  ASSERT_TRUE(sink.ok()) << sink.message();

  const trace_context root = trace_context::new_trace();
  {
    troupe::trace_scope scope(root);
    Ping ping;
    ping.set_seq(1);
    ASSERT_EQ(sink.value().tell(ping), troupe::send_result::ok);
    troupe::shared_bytes buffer(buffer_bytes);
    ASSERT_EQ(sink.value().tell(std::move(buffer)), troupe::send_result::ok);
  }
  ASSERT_TRUE(out.receive(troupe::test::long_wait));
  ASSERT_TRUE(out.receive(troupe::test::long_wait));
  std::optional<message_span> ping, buffer;
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        ping = log_b.of<Ping>();
        buffer = log_b.of<troupe::shared_bytes>();
        return ping && buffer;
      },
      troupe::test::long_wait));
  EXPECT_EQ(ping->context.trace_id, root.trace_id);
  EXPECT_EQ(ping->parent_span_id, root.span_id) << "the span that sent it: main's";
  EXPECT_EQ(buffer->context.trace_id, root.trace_id);
  EXPECT_EQ(buffer->parent_span_id, root.span_id);
  EXPECT_EQ(a.stats().transfers_out, transfers) << "the buffer went the way the test meant";
}

std::string socket_path(const char* what) {
  return (std::filesystem::temp_directory_path() /
          ("troupe-trace-" + std::string(what) + "-" + std::to_string(::getpid()) + ".sock"))
      .string();
}

TEST(TraceAcrossNodes, ATraceCrossesAUnixSocket) {
  auto o = node_opts("beta");
  o.listen_unix = socket_path("unix");
  const std::string path = o.listen_unix;
  expect_traced_over([&](troupe::node& a) { return a.connect_unix(path, 10s); }, o, 1024, 0);
}

TEST(TraceAcrossNodes, ATraceCrossesSharedMemoryInAMessageAndInATransfer) {
  auto o = node_opts("beta");
  o.listen_shm = socket_path("shm");
  const std::string path = o.listen_shm;
  // A buffer past transfer_threshold is lent (a TRANSFER frame), not copied.
  expect_traced_over([&](troupe::node& a) { return a.connect_shm(path, 10s); }, o,
                     troupe::shared_bytes::transfer_threshold * 2, 1);
}

} // namespace
} // namespace transport_test
