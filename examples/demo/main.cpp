// troupe-demo: the runtime at work, explained as it runs: first in one
// process, then two nodes in two processes. Started by `scripts/dev.sh demo`.
#include <troupe/troupe.hpp>

#include "network.hpp"

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

double since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::atomic<int> live_states{0};  // actor objects alive right now

// --- 1. ping-pong --------------------------------------------------------------
struct finished {
  std::uint64_t value;
  std::uint64_t extra;
};
using report_ref = troupe::actor_ref<troupe::inbox<finished>::actor_type>;

struct player;
struct ball {
  troupe::actor_ref<player> from;
  std::uint64_t left;
};
struct player : troupe::actor<player> {
  explicit player(report_ref r) : report(std::move(r)) { ++live_states; }
  ~player() { --live_states; }
  void on(ball b) {
    if (b.left == 0) {
      report.tell(finished{0, 0});
      return;
    }
    b.from.tell(ball{self(), b.left - 1});
  }
  report_ref report;
};

// --- 2. fan-in with backpressure -------------------------------------------------
struct sink : troupe::actor<sink> {
  sink(report_ref r, std::uint64_t n) : report(std::move(r)), expected(n) { ++live_states; }
  ~sink() { --live_states; }
  void on(std::uint64_t) {
    max_depth = std::max<std::uint64_t>(max_depth, self().mailbox_depth());
    if (++count == expected) report.tell(finished{count, max_depth});
  }
  report_ref report;
  std::uint64_t expected, count = 0, max_depth = 0;
};
struct go {};
std::atomic<std::uint64_t> mutes{0};
struct source : troupe::actor<source> {
  source(troupe::actor_ref<sink> s, std::uint64_t n) : to(std::move(s)), left(n) { ++live_states; }
  ~source() { --live_states; }
  void on(go) {
    while (left > 0) {
      --left;
      if (to.tell(left) == troupe::send_result::muted) {
        mutes.fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    if (left > 0) defer(go{});
  }
  troupe::actor_ref<sink> to;
  std::uint64_t left;
};

// --- 3. failure is contained -----------------------------------------------------
struct divide {
  int a, b;
};
struct calculator : troupe::actor<calculator> {
  calculator() { ++live_states; }
  ~calculator() { --live_states; }
  int on(divide d) {
    if (d.b == 0) throw std::domain_error("division by zero");
    return d.a / d.b;
  }
};

// --- 4. timers -------------------------------------------------------------------
struct tick {};
struct metronome : troupe::actor<metronome> {
  explicit metronome(report_ref r) : report(std::move(r)) { ++live_states; }
  ~metronome() { --live_states; }
  void on_start() { timer = send_periodic(self(), 20ms, tick{}); }
  void on(tick) {
    if (++ticks == 5) {
      timer.cancel();
      report.tell(finished{ticks, 0});
    }
  }
  report_ref report;
  troupe::timer_handle timer;
  std::uint64_t ticks = 0;
};

template <class T>
T wait_for(troupe::inbox<T>& in) {
  auto v = in.receive(30s);
  if (!v) {
    std::fprintf(stderr, "demo: no answer within 30 s\n");
    std::exit(1);
  }
  return *v;
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--node-b") return node_b_main();
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::printf("troupe demo: an actor system with %u worker threads (one per core).\n\n", threads);
  troupe::actor_system sys;
  troupe::inbox<finished> in(sys);

  {
    constexpr std::uint64_t rounds = 500'000;
    std::printf("1. Ping-pong: two actors pass a ball back and forth %llu times, one message in flight.\n",
                static_cast<unsigned long long>(rounds / 2));
    auto a = sys.spawn<player>(in.ref());
    auto b = sys.spawn<player>(in.ref());
    const auto t0 = clk::now();
    a.tell(ball{b, rounds});
    wait_for(in);
    const double s = since(t0);
    std::printf("   %.0f ns per message hop (%.1f million messages/s): the woken actor runs next on the same\n"
                "   core, so its data is still in cache.\n\n",
                s * 1e9 / rounds, rounds / s / 1e6);
  }
  {
    constexpr std::uint64_t per_source = 1'000'000, sources = 4, capacity = 1024;
    std::printf("2. Backpressure: %llu fast senders each send %llu numbers to one counter whose mailbox\n"
                "   holds %llu. When it is full, a sender is muted (not scheduled) until the counter drains;\n"
                "   no thread blocks and nothing is dropped.\n",
                static_cast<unsigned long long>(sources), static_cast<unsigned long long>(per_source),
                static_cast<unsigned long long>(capacity));
    auto s = sys.spawn_with<sink>({.mailbox = {.capacity = capacity}}, in.ref(), per_source * sources);
    const auto t0 = clk::now();
    for (std::uint64_t i = 0; i < sources; ++i) sys.spawn<source>(s, per_source).tell(go{});
    const finished f = wait_for(in);
    const double secs = since(t0);
    std::printf("   delivered %llu of %llu in %.2f s (%.1f million/s); deepest the mailbox got: %llu;\n"
                "   senders were muted %llu times.\n\n",
                static_cast<unsigned long long>(f.value), static_cast<unsigned long long>(per_source * sources), secs,
                f.value / secs / 1e6, static_cast<unsigned long long>(f.extra),
                static_cast<unsigned long long>(mutes.load()));
  }
  {
    std::printf("3. Failure is contained: a calculator actor is asked to divide by zero and throws.\n");
    auto calc = sys.spawn<calculator>();
    auto ok = calc.ask(divide{84, 2}, 1s).get();
    auto bad = calc.ask(divide{1, 0}, 1s).get();
    // The reply (an error) is sent before the calculator finishes stopping;
    // wait until it is gone, then send to it once more.
    const auto deadline = clk::now() + 5s;
    while (sys.stats().stopped == 0 && clk::now() < deadline) std::this_thread::sleep_for(1ms);
    const auto sent_after = calc.tell(divide{1, 1});
    const auto st = sys.stats();
    std::printf("   84 / 2 -> %d. 1 / 0 -> no reply, error '%s: %.*s' (logged above on stderr).\n"
                "   The calculator stopped; the process and every other actor go on. A later message to it\n"
                "   is a dead letter (tell said '%s'; dead letters counted: %llu); actors failed: %llu.\n\n",
                ok.ok() ? ok.value() : -1, bad.error().message().c_str(),
                static_cast<int>(bad.message().size()), bad.message().data(),
                std::string(troupe::to_string(sent_after)).c_str(),
                static_cast<unsigned long long>(st.dead(troupe::drop_reason::receiver_stopped)),
                static_cast<unsigned long long>(st.failed));
  }
  {
    std::printf("4. Timers: a metronome ticks every 20 ms and cancels itself after 5 ticks.\n");
    const auto t0 = clk::now();
    sys.spawn<metronome>(in.ref());
    wait_for(in);
    std::printf("   5 ticks in %.0f ms.\n\n", since(t0) * 1e3);
  }
  {
    std::printf("5. Idle costs nothing: %d actors are alive; measuring CPU over one quiet second...\n",
                live_states.load());
    std::this_thread::sleep_for(200ms);  // let the workers finish searching and park
    const double c0 = cpu_seconds();
    std::this_thread::sleep_for(1s);
    std::printf("   the whole process used %.1f ms of CPU in that second (workers park; no spinning).\n\n",
                (cpu_seconds() - c0) * 1e3);
  }
  std::printf("6. Shutdown: every actor is stopped and its state destroyed.\n");
  sys.shutdown();
  std::printf("   actor objects still alive: %d. Spawned %llu actors in all.\n\n", live_states.load(),
              static_cast<unsigned long long>(sys.stats().spawned));
  if (live_states.load() != 0) return 1;
  return network_demo("/proc/self/exe");
}
