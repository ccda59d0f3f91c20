// The metrics endpoint over real loopback HTTP, and what the actor system
// exports through it: its own families, per-actor metrics for the actors
// asked for, the format checked by Prometheus's own Python parser.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "http_client.hpp"
#include "support/captured_log.hpp"
#include "support/temp_dir.hpp"
#include "support/test_support.hpp"
#include "troupe/observe/metrics_server.hpp"
#include "troupe/troupe.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::test::http_body;
using troupe::test::http_connection;
using troupe::test::http_get;
using troupe::test::http_status;

/// The value of the first sample whose line starts with `series` (a name,
/// or a name and its labels up to some point), or nullopt.
std::optional<double> sample(const std::string& text, const std::string& series) {
  for (std::size_t at = 0; at < text.size();) {
    const auto end = text.find('\n', at);
    const std::string line = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    if (line.empty() || line[0] == '#' || line.rfind(series, 0) != 0) continue;
    const char next = line.size() > series.size() ? line[series.size()] : '\0';
    if (next != ' ' && next != '{' && next != ',' && series.back() != '"') continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

struct counter_actor : troupe::actor<counter_actor> {
  void on(int) { ++seen; }
  int on(std::string) { return seen; }
  int seen = 0;
};

/// Tells a metered counter_actor `n` messages and waits until its per-actor
/// count shows them and the ask that checked them (counted at the end of a
/// turn, which may still be running as the answer arrives).
void feed_metered(troupe::actor_system& sys, const troupe::actor_ref<counter_actor>& a, int n) {
  for (int i = 0; i < n; ++i) a.tell(1);
  ASSERT_EQ(a.ask(std::string("n"), 10s).get().value(), n);
  ASSERT_TRUE(troupe::test::wait_until(
      [&] { return sample(sys.metrics_text(), "troupe_actor_messages_processed_total{actor=\"counter_actor\"") == n + 1; },
      troupe::test::long_wait));
}

struct other_actor : troupe::actor<other_actor> {
  void on(int) {}
};

/// Blocks in its handler until the test opens the gate.
struct blocker : troupe::actor<blocker> {
  explicit blocker(troupe::test::gate* g) : g_(g) {}
  void on(int first) {
    if (first == 1) (void)g_->wait_for(troupe::test::long_wait);
  }
  troupe::test::gate* g_;
};

/// Runs check_exposition.py on `text`; its output and exit status.
std::pair<int, std::string> check_with_prometheus_parser(const std::string& text, const std::string& families) {
  troupe::test::temp_dir dir;
  const std::string file = (dir.path() / "metrics.txt").string();
  std::ofstream(file) << text;
  const std::string cmd = "/usr/bin/python3 " TROUPE_CHECK_EXPOSITION " " + file + " " + families + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(MetricsEndpoint, ServesTextThatPrometheusParsesWithEveryDocumentedFamily) {
  troupe::actor_system sys(troupe::system_config{.threads = 2, .actor_metrics = {"counter_actor"}, .actor_metrics_sample_every = 1});
  troupe::metrics_server srv(sys, {});
  auto a = sys.spawn<counter_actor>();
  ASSERT_NO_FATAL_FAILURE(feed_metered(sys, a, 100));

  const std::string answer = http_get(srv.port(), "/metrics");
  ASSERT_EQ(http_status(answer), 200) << answer;
  EXPECT_NE(answer.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << answer;
  const std::string body = http_body(answer);
  const auto [status, out] = check_with_prometheus_parser(
      body,
      "troupe_actors_running troupe_actors_spawned_total troupe_actors_stopped_total "
      "troupe_messages_processed_total troupe_dead_letters_total troupe_sender_mutes_total "
      "troupe_supervisor_restarts_total troupe_scheduler_steals_total troupe_scheduler_parks_total "
      "troupe_scheduler_injection_queue_depth troupe_timers_pending troupe_spill_disk_bytes "
      "troupe_actor_mailbox_depth troupe_actor_messages_processed_total troupe_actor_mailbox_time_seconds "
      "troupe_actor_processing_time_seconds troupe_metrics_http_requests_total");
  EXPECT_EQ(status, 0) << "prometheus_client's parser (Debian: python3-prometheus-client) said:\n" << out;
  // At least 15 families; the parser's own count.
  const auto at = out.find("families: ");
  ASSERT_NE(at, std::string::npos) << out;
  EXPECT_GE(std::stoi(out.substr(at + 10)), 15) << out;

  EXPECT_GE(sample(body, "troupe_messages_processed_total").value_or(0), 101);
  EXPECT_EQ(sample(body, "troupe_actors_running").value_or(-1), 1);
  EXPECT_EQ(sample(body, "troupe_actor_messages_processed_total{actor=\"counter_actor\"").value_or(-1), 101) << body;
  EXPECT_EQ(sample(body, "troupe_actor_processing_time_seconds_count{actor=\"counter_actor\"").value_or(-1), 101)
      << body;
  EXPECT_EQ(sample(body, "troupe_actor_mailbox_time_seconds_count{actor=\"counter_actor\"").value_or(-1), 101)
      << body;
  EXPECT_EQ(srv.stats().requests, 1u);
}

TEST(MetricsEndpoint, StoppedActorsAndDeadLettersAreCountedByWhy) {
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  troupe::metrics_server srv(sys, {});
  auto a = sys.spawn<counter_actor>();
  a.stop();
  ASSERT_TRUE(sys.await_stopped(a, 10s).has_value());
  (void)a.tell(1);  // to a stopped actor: a dead letter
  const std::string body = http_body(http_get(srv.port(), "/metrics"));
  EXPECT_EQ(sample(body, "troupe_actors_stopped_total{reason=\"stopped\"}").value_or(-1), 1) << body;
  EXPECT_EQ(sample(body, "troupe_actors_stopped_total{reason=\"exception\"}").value_or(-1), 0) << body;
  EXPECT_EQ(sample(body, "troupe_dead_letters_total{cause=\"receiver_stopped\"}").value_or(-1), 1) << body;
}

TEST(MetricsEndpoint, MetricsOffLeavesTheMessageCountOut) {
  troupe::actor_system sys(troupe::system_config{.threads = 2, .metrics = false});
  auto a = sys.spawn<counter_actor>();
  a.tell(1);
  ASSERT_EQ(a.ask(std::string("n"), 10s).get().value(), 1);
  const std::string text = sys.metrics_text();
  EXPECT_FALSE(sample(text, "troupe_messages_processed_total").has_value()) << text;
  EXPECT_TRUE(sample(text, "troupe_actors_running").has_value()) << text;
}

TEST(MetricsEndpoint, OnlyTheActorsAskedForGetSeriesOfTheirOwn) {
  troupe::actor_system sys(troupe::system_config{.threads = 2, .actor_metrics = {"frontdoor"}});
  auto named = sys.spawn<other_actor>();
  auto unnamed = sys.spawn<other_actor>();
  ASSERT_FALSE(sys.registry().put("frontdoor", named));
  named.tell(1);
  unnamed.tell(1);
  const std::string text = sys.metrics_text();
  EXPECT_NE(text.find("troupe_actor_mailbox_depth{actor=\"frontdoor\",id=\"" + std::to_string(named.id()) + "\"}"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("id=\"" + std::to_string(unnamed.id()) + "\""), std::string::npos) << text;
  // A stopped actor's series go with it.
  named.stop();
  ASSERT_TRUE(sys.await_stopped(named, 10s).has_value());
  EXPECT_EQ(sys.metrics_text().find("frontdoor"), std::string::npos);
}

TEST(MetricsEndpoint, TimesAreSampledWhileEveryMessageIsCounted) {
  troupe::actor_system sys(troupe::system_config{.threads = 2, .actor_metrics = {"counter_actor"}});
  ASSERT_EQ(sys.config().actor_metrics_sample_every, 64u);  // the default
  auto a = sys.spawn<counter_actor>();
  ASSERT_NO_FATAL_FAILURE(feed_metered(sys, a, 6400));  // counted exactly
  const std::string text = sys.metrics_text();
  // This thread stamps one send in 64 on average (random gaps of 1 to 127);
  // the actor times those: about 100.
  const double waited = sample(text, "troupe_actor_mailbox_time_seconds_count{actor=\"counter_actor\"").value_or(-1);
  const double handled = sample(text, "troupe_actor_processing_time_seconds_count{actor=\"counter_actor\"").value_or(-1);
  EXPECT_GT(waited, 50) << "far fewer samples than one in 64";
  EXPECT_LT(waited, 200) << "far more samples than one in 64";
  EXPECT_EQ(handled, waited);
}

/// Deals its messages round-robin to `n` workers, as a pool does.
struct dealer : troupe::actor<dealer> {
  explicit dealer(std::vector<troupe::actor_ref<other_actor>> to) : to_(std::move(to)) {}
  void on(int i) { (void)to_[static_cast<std::size_t>(i) % to_.size()].tell(i); }
  std::vector<troupe::actor_ref<other_actor>> to_;
};

TEST(MetricsEndpoint, SamplingReachesEveryWorkerOfARoundRobin) {
  troupe::actor_system sys(troupe::system_config{.threads = 2, .actor_metrics = {"other_actor"}});
  std::vector<troupe::actor_ref<other_actor>> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(sys.spawn<other_actor>());
  auto d = sys.spawn<dealer>(workers);
  for (int i = 0; i < 16000; ++i) d.tell(i);
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        const std::string t = sys.metrics_text();
        for (const auto& w : workers) {
          const auto n = sample(t, "troupe_actor_messages_processed_total{actor=\"other_actor\",id=\"" +
                                       std::to_string(w.id()) + "\"}");
          if (n.value_or(0) != 4000) return false;
        }
        return true;
      },
      troupe::test::long_wait));
  // A fixed gap of 64 would stamp the same worker every time (64 % 4 == 0).
  const std::string t = sys.metrics_text();
  for (const auto& w : workers) {
    const auto n = sample(t, "troupe_actor_mailbox_time_seconds_count{actor=\"other_actor\",id=\"" +
                                 std::to_string(w.id()) + "\"}");
    EXPECT_GT(n.value_or(0), 10) << "worker " << w.id() << "\n" << t;
  }
}

TEST(MetricsEndpoint, AFilterMatchingTooManyActorsMetersTenThousandAndSaysSo) {
  troupe::test::captured_log log;
  troupe::actor_system sys(troupe::system_config{.threads = 2, .actor_metrics = {"other_actor"}});
  std::vector<troupe::actor_ref<other_actor>> many;
  for (int i = 0; i < 10'001; ++i) many.push_back(sys.spawn<other_actor>());
  EXPECT_EQ(log.count("10000 actors have per-actor metrics already"), 1u);
  // The one beyond the cap has no series; one within it has.
  const std::string text = sys.metrics_text();
  EXPECT_EQ(text.find("id=\"" + std::to_string(many.back().id()) + "\""), std::string::npos);
  EXPECT_NE(text.find("id=\"" + std::to_string(many.front().id()) + "\""), std::string::npos);
}

TEST(MetricsEndpoint, MailboxTimeCountsTheWaitBehindABusyHandler) {
  troupe::test::gate g;
  troupe::test::gate_opener opener(g);
  troupe::actor_system sys(troupe::system_config{.threads = 2, .actor_metrics = {"blocker"}, .actor_metrics_sample_every = 1});
  auto b = sys.spawn<blocker>(&g);
  b.tell(1);  // holds the actor until the gate opens
  b.tell(2);  // waits in the mailbox meanwhile
  const auto queued = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(30ms);  // the wait to be measured, not a synchronisation
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - queued).count();
  g.open();
  ASSERT_TRUE(troupe::test::wait_until(
      [&] { return sample(sys.metrics_text(), "troupe_actor_messages_processed_total{actor=\"blocker\"").value_or(0) == 2; },
      troupe::test::long_wait));
  const std::string text = sys.metrics_text();
  const double in_mailbox = sample(text, "troupe_actor_mailbox_time_seconds_sum{actor=\"blocker\"").value_or(0);
  const double in_handler = sample(text, "troupe_actor_processing_time_seconds_sum{actor=\"blocker\"").value_or(0);
  // The second message waited behind the first's handler; the first waited
  // in its mailbox and then in its handler: together they saw it twice.
  EXPECT_GE(in_mailbox, waited) << text;
  EXPECT_GT(in_handler, 0) << text;
  EXPECT_GE(in_mailbox + in_handler, 2 * waited) << text;
}

TEST(MetricsEndpoint, BadRequestsGetA4xxAndAreCounted) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  troupe::metrics_server srv(sys, {});
  auto ask = [&](const std::string& raw) {
    http_connection c(srv.port());
    c.send(raw);
    return http_status(c.read_all());
  };
  EXPECT_EQ(ask("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
  EXPECT_EQ(ask("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), 405);
  EXPECT_EQ(ask("this is not http\r\n\r\n"), 400);
  EXPECT_EQ(ask("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"), 431);
  EXPECT_EQ(ask("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"), 400);  // no bodies
  EXPECT_EQ(ask("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
  const auto s = srv.stats();
  EXPECT_EQ(s.requests, 6u);
  EXPECT_EQ(s.bad_requests, 5u);
  const std::string text = sys.metrics_text();
  EXPECT_EQ(sample(text, "troupe_metrics_http_bad_requests_total").value_or(-1), 5) << text;
}

TEST(MetricsEndpoint, ASlowClientIsCutOffAndDoesNotHoldUpOthers) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  troupe::metrics_server srv(sys, {.request_timeout = 2s});
  http_connection slow(srv.port());
  slow.send("GET /metr");  // and nothing more
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(http_status(http_get(srv.port(), "/metrics")), 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms) << "the slow client held up another";
  const std::string rest = slow.read_all();  // the server closes it at the timeout
  EXPECT_FALSE(slow.timed_out);
  EXPECT_EQ(http_status(rest), 0) << rest;
  EXPECT_TRUE(troupe::test::wait_until([&] { return srv.stats().timeouts == 1; }, troupe::test::long_wait));
}

TEST(MetricsEndpoint, ClientsBeyondTheLimitAreClosedAtAcceptAndCounted) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  troupe::metrics_server srv(sys, {.max_connections = 2, .request_timeout = 10s});
  http_connection one(srv.port()), two(srv.port());
  one.send("GET /");
  two.send("GET /");
  // Both are being served (they hold their slots) once a third is refused.
  ASSERT_TRUE(troupe::test::wait_until(
      [&] {
        http_connection third(srv.port(), 2000);
        return third.read_all().empty() && srv.stats().refused > 0;
      },
      troupe::test::long_wait));
  one.send("metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(http_status(one.read_all()), 200);
  // The slot is free again.
  EXPECT_TRUE(troupe::test::wait_until([&] { return http_status(http_get(srv.port(), "/metrics")) == 200; },
                                       troupe::test::long_wait));
}

TEST(MetricsEndpoint, BadOptionsAreRefusedWhereGiven) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  EXPECT_THROW(troupe::metrics_server(sys, {.address = "localhost"}), std::invalid_argument);
  EXPECT_THROW(troupe::metrics_server(sys, {.max_connections = 0}), std::invalid_argument);
  EXPECT_THROW(troupe::metrics_server(sys, {.request_timeout = 0ms}), std::invalid_argument);
  troupe::metrics_server first(sys, {});
  EXPECT_THROW(troupe::metrics_server(sys, {.port = first.port()}), std::system_error);
  EXPECT_THROW(troupe::actor_system(troupe::system_config{.actor_metrics = {""}}), std::invalid_argument);
  EXPECT_THROW(troupe::actor_system(troupe::system_config{.actor_metrics_sample_every = 0}), std::invalid_argument);
  EXPECT_THROW(troupe::actor_system(troupe::system_config{.actor_metrics_sample_every = 12}), std::invalid_argument);
}

TEST(MetricsEndpoint, AUserSourceAddsItsFamiliesUntilRemoved) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  const auto id = sys.add_metrics_source(
      [](troupe::metrics_writer& w) { w.gauge("app_queue_length", "Jobs waiting in the app's own queue", 42); });
  EXPECT_EQ(sample(sys.metrics_text(), "app_queue_length").value_or(-1), 42);
  sys.remove_metrics_source(id);
  EXPECT_FALSE(sample(sys.metrics_text(), "app_queue_length").has_value());
}

} // namespace
