// A node's metrics: its counters and each link's, labelled with the peer,
// served by the endpoint node_options::metrics starts.
#include <gtest/gtest.h>

#include "observe/http_client.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

using troupe_test::Ping;

/// The value of the sample line starting with `series`, or -1.
double sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series);
  if (at == std::string::npos) return -1;
  const auto end = text.find('\n', at + 1);
  const std::string line = text.substr(at + 1, end - at - 1);
  return std::stod(line.substr(line.rfind(' ') + 1));
}

TEST(LinkMetrics, TheEndpointShowsEachLinkByPeerAndTheNodeCounters) {
  troupe::actor_system sys_a{two_threads()}, sys_b{two_threads()};
  auto oa = node_opts("alpha");
  oa.metrics = troupe::metrics_endpoint_options{};
  troupe::node a(sys_a, oa);
  auto b_node = std::make_unique<troupe::node>(sys_b, node_opts("beta"));
  troupe::node& b = *b_node;
  ASSERT_NE(a.metrics_port(), 0);
  EXPECT_EQ(b.metrics_port(), 0);
  b.publish("echo", sys_b.spawn<echo>());
  auto p = a.connect("127.0.0.1", b.port(), 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  auto e = p.value().lookup<echo>("echo", 10s);
  ASSERT_TRUE(e.ok()) << e.message();
  for (int i = 0; i < 50; ++i) {
    Ping ping;
    ping.set_seq(i);
    ASSERT_TRUE(e.value().ask(ping, 10s).get().ok());
  }
  const std::string answer = troupe::test::http_get(a.metrics_port(), "/metrics");
  ASSERT_EQ(troupe::test::http_status(answer), 200) << answer;
  const std::string text = troupe::test::http_body(answer);
  const std::string link = "{node=\"alpha\",peer=\"beta\"}";
  EXPECT_GE(sample(text, "troupe_link_messages_sent_total" + link), 50) << text;
  // Replies are not messages to an actor: beta's side counts the asks in.
  const std::string text_b = sys_b.metrics_text();
  EXPECT_GE(sample(text_b, "troupe_link_messages_received_total{node=\"beta\",peer=\"alpha\"}"), 50) << text_b;
  EXPECT_GT(sample(text, "troupe_link_bytes_sent_total" + link), 0) << text;
  EXPECT_GT(sample(text, "troupe_link_bytes_received_total" + link), 0) << text;
  EXPECT_GT(sample(text, "troupe_link_writes_total" + link), 0) << text;
  EXPECT_EQ(sample(text, "troupe_links_up{node=\"alpha\"}"), 1) << text;
  EXPECT_EQ(sample(text, "troupe_node_sessions_up_total{node=\"alpha\"}"), 1) << text;
  // The node-wide count agrees with the link's (one link).
  EXPECT_EQ(sample(text, "troupe_node_messages_out_total{node=\"alpha\"}"),
            sample(text, "troupe_link_messages_sent_total" + link));
  // Heartbeats (every 100 ms here) are answered: the link's round trip.
  ASSERT_TRUE(troupe::test::wait_until(
      [&] { return sample(sys_a.metrics_text(), "troupe_link_rtt_seconds" + link) > 0; }, troupe::test::long_wait));
  EXPECT_LT(sample(sys_a.metrics_text(), "troupe_link_rtt_seconds" + link), 1.0);
  // The system's own families are there too: one endpoint per process.
  EXPECT_GE(sample(text, "troupe_actors_spawned_total"), 0) << text;

  // A link that ends is counted by why, and its series go.
  b_node.reset();  // beta leaves (says goodbye)
  p.value().wait_down();
  ASSERT_TRUE(troupe::test::wait_until(
      [&] { return sample(sys_a.metrics_text(), "troupe_links_up{node=\"alpha\"}") == 0; }, troupe::test::long_wait));
  const std::string after = sys_a.metrics_text();
  EXPECT_EQ(sample(after, "troupe_link_closes_total{node=\"alpha\",reason=\"peer_left\"}"), 1) << after;
  EXPECT_EQ(after.find("peer=\"beta\""), std::string::npos) << after;
}

TEST(LinkMetrics, ABadEndpointOptionIsRefusedByTheNode) {
  troupe::actor_system sys{two_threads()};
  auto o = node_opts("alpha");
  o.metrics = troupe::metrics_endpoint_options{.address = "not-an-ip"};
  EXPECT_THROW(troupe::node(sys, o), std::invalid_argument);
}

} // namespace
} // namespace transport_test
