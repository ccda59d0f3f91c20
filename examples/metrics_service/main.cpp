// A service an operator can watch: a front door that hands jobs to a pool
// of workers, fed over a real TCP link by a load generator on a second node
// (in the same process, to keep the example one program). The service's
// node serves /metrics; watch it with troupe-top (see README.md here).
//
//   metrics_service [--port P] [--seconds S]
//
// --port: the metrics port (default 9464; 0 picks a free one). --seconds:
// stop after S seconds and print what the endpoint said (0: run until
// Ctrl-C).
#include <signal.h>

#include <troupe/troupe.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace svc {

using namespace std::chrono_literals;

/// A unit of work: `cost` microseconds of CPU.
struct job {
  std::uint64_t id = 0;
  std::uint32_t cost = 0;
};

} // namespace svc

template <>
struct troupe::codec<svc::job> {
  static constexpr std::string_view name = "svc.job";
  static void encode(const svc::job& j, std::string& out) {
    out.append(reinterpret_cast<const char*>(&j.id), sizeof j.id);
    out.append(reinterpret_cast<const char*>(&j.cost), sizeof j.cost);
  }
  static bool decode(std::string_view in, svc::job& j) {
    if (in.size() != sizeof j.id + sizeof j.cost) return false;  // untrusted bytes
    std::memcpy(&j.id, in.data(), sizeof j.id);
    std::memcpy(&j.cost, in.data() + sizeof j.id, sizeof j.cost);
    return j.cost <= 10'000;
  }
};

namespace svc {

/// Burns `cost` microseconds (a stand-in for real work).
struct worker : troupe::actor<worker> {
  void on(job j) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(j.cost);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
};

/// Takes jobs from the network and deals them round-robin to the workers.
struct frontdoor : troupe::actor<frontdoor> {
  using remote_interface = troupe::accepts<job>;
  frontdoor() {
    for (int i = 0; i < 4; ++i) workers_.push_back(spawn<worker>());
  }
  void on(job j) { workers_[j.id % workers_.size()].tell(j); }
  std::vector<troupe::actor_ref<worker>> workers_;
};

/// Sends a burst of jobs to the front door every 10 ms; every fourth burst
/// is heavier, so the workers' queues breathe.
struct loadgen : troupe::actor<loadgen> {
  struct tick {};
  explicit loadgen(troupe::actor_ref<frontdoor> to) : to_(std::move(to)) {}
  void on_start() { send_periodic(self(), 10ms, tick{}); }
  void on(tick) {
    const std::uint32_t cost = ++bursts_ % 4 == 0 ? 40 : 5;
    for (int i = 0; i < 200; ++i) (void)to_.tell(job{next_++, cost});
  }
  troupe::actor_ref<frontdoor> to_;
  std::uint64_t next_ = 0;
  std::uint64_t bursts_ = 0;
};

/// `text` as a whole number from 0 to `max`, or nullopt.
std::optional<int> whole(const char* text, int max) {
  int v = 0;
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0 || v > max) return std::nullopt;
  return v;
}

int run(int argc, char** argv) {
  int port = 9464;
  int seconds = 0;
  if (argc % 2 == 0) {
    std::fprintf(stderr, "usage: metrics_service [--port P] [--seconds S]\n");
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const auto v = whole(argv[i + 1], a == "--port" ? 65535 : 86400);
    if ((a != "--port" && a != "--seconds") || !v) {
      std::fprintf(stderr, "usage: metrics_service [--port 0..65535] [--seconds 0..86400], not %s %s\n", a.c_str(),
                   argv[i + 1]);
      return 2;
    }
    (a == "--port" ? port : seconds) = *v;
  }

  // The service: its front door and workers get metrics of their own.
  troupe::actor_system sys(troupe::system_config{.actor_metrics = {"frontdoor", "worker"}});
  troupe::node_options so;
  so.name = "service";
  so.cookie = "metrics-service-example-cookie";  // an example's; make yours with `openssl rand -hex 32`
  so.metrics = troupe::metrics_endpoint_options{.port = static_cast<std::uint16_t>(port)};
  troupe::node service(sys, so);
  service.publish("frontdoor", sys.spawn<frontdoor>());

  // The load: a second node, linked to the first over loopback TCP.
  troupe::actor_system load_sys;
  troupe::node_options lo = so;
  lo.name = "loadgen";
  lo.listen = false;
  lo.metrics.reset();
  troupe::node load(load_sys, lo);
  auto peer = load.connect("127.0.0.1", service.port(), 10s);
  if (!peer.ok()) {
    std::fprintf(stderr, "metrics_service: %s\n", std::string(peer.message()).c_str());
    return 1;
  }
  auto door = peer.value().lookup<frontdoor>("frontdoor", 10s);
  if (!door.ok()) {
    std::fprintf(stderr, "metrics_service: %s\n", std::string(door.message()).c_str());
    return 1;
  }
  load_sys.spawn<loadgen>(door.value());

  std::printf("metrics at http://127.0.0.1:%u/metrics\n", static_cast<unsigned>(service.metrics_port()));
  std::printf("watch with: troupe-top 127.0.0.1:%u\n", static_cast<unsigned>(service.metrics_port()));
  std::fflush(stdout);
  if (seconds == 0) {
    // Until Ctrl-C (or a kill).
    sigset_t stop_on;
    ::sigemptyset(&stop_on);
    ::sigaddset(&stop_on, SIGINT);
    ::sigaddset(&stop_on, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &stop_on, nullptr);
    int sig = 0;
    ::sigwait(&stop_on, &sig);
    return 0;
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  // What a scrape sees (the same text the endpoint serves).
  const std::string text = sys.metrics_text();
  for (const char* want : {"troupe_messages_processed_total ", "troupe_link_messages_received_total{"}) {
    const auto at = text.find(std::string("\n") + want);
    if (at == std::string::npos) {
      std::fprintf(stderr, "metrics_service: no %s in the metrics\n", want);
      return 1;
    }
    std::printf("%s\n", text.substr(at + 1, text.find('\n', at + 1) - at - 1).c_str());
  }
  return 0;
}

} // namespace svc

int main(int argc, char** argv) { return svc::run(argc, argv); }
