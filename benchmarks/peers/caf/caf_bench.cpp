// caf-bench: CAF (C++ Actor Framework, 0.17) peer of troupe-bench.
//
//   caf-bench WORKLOAD [--n N] [--k K] [--threads T] [--capacity C]
//
// Runs one workload and prints exactly one JSON line on stdout, e.g.
//   {"workload":"pingpong","n":1000000,"threads":2,"seconds":0.41,...}
// Usage errors go to stderr with exit code 2; a failed correctness check
// (wrong count, stalled run) goes to stderr with exit code 1.
//
// Workloads (the unit that ns_per_op / ops_per_s refer to in parentheses):
//   pingpong  two actors, one message in flight, N times      (round trip)
//   fanin     K senders each send N/K messages to one counter  (message)
//   spawn     a scoped_actor spawns N actors and sends each one
//             message; each answers and stops                  (actor)
//   ring      K actors pass one token N hops around a ring      (hop)
//   idle      spawn N waiting actors; report RSS growth per actor (actor)
//
// Only the workload itself is timed (steady_clock), never system start-up or
// actor setup that is not part of the workload. All actors are event-based
// actors with behaviors; replies use CAF's "return a value from the handler"
// idiom, everything else uses plain asynchronous send.

#include <caf/all.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

using u64 = std::uint64_t;
using steady = std::chrono::steady_clock;

// Message tags.
using start_atom = caf::atom_constant<caf::atom("start")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using next_atom = caf::atom_constant<caf::atom("next")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using token_atom = caf::atom_constant<caf::atom("token")>;

// A run that makes no progress for this long is reported as a failure
// (exit 1) instead of hanging forever.
constexpr auto stall_limit = std::chrono::seconds(120);

// -- helpers ------------------------------------------------------------------

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr,
               "caf-bench: %s\n"
               "usage: caf-bench pingpong|fanin|spawn|ring|idle"
               " [--n N] [--k K] [--threads T] [--capacity C]\n",
               msg.c_str());
  std::exit(2);
}

// Correctness failure. _Exit: the actor system may be stuck, so skip its
// destructor (which would wait for all actors).
[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "caf-bench: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

void check(bool ok, const std::string& msg) {
  if (!ok)
    fail(msg);
}

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

// Current resident set size in bytes (second field of /proc/self/statm).
u64 current_rss() {
  unsigned long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lu %lu", &size, &resident) != 2)
      resident = 0;
    std::fclose(f);
  }
  return static_cast<u64>(resident) * static_cast<u64>(sysconf(_SC_PAGESIZE));
}

// Handle to the scoped (blocking) actor, so event-based actors can report to it.
caf::actor handle_of(caf::scoped_actor& self) {
  return caf::actor_cast<caf::actor>(self);
}

// Blocks until `self` receives one message matched by `handler`.
template <class Handler>
void await(caf::scoped_actor& self, const char* workload, Handler handler) {
  self->receive(handler, caf::after(stall_limit) >> [workload] {
    fail(std::string(workload) + ": no progress for too long");
  });
}

// Stops actors that are still waiting for messages.
void shut_down(const std::vector<caf::actor>& actors) {
  for (auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

struct outcome {
  u64 units = 0;               // round trips, messages, actors or hops
  double seconds = 0;          // time for the workload only
  u64 rss_bytes = 0;           // RSS right after the workload
  double bytes_per_actor = 0;  // idle only
};

// -- pingpong -----------------------------------------------------------------

caf::behavior ponger(caf::event_based_actor*) {
  // Returning a value sends it back to the sender of the current message.
  return {[](ping_atom) { return pong_atom::value; }};
}

struct pinger_state {
  u64 round_trips = 0;
};

caf::behavior pinger(caf::stateful_actor<pinger_state>* self, caf::actor peer,
                     caf::actor reporter, u64 n) {
  return {
    [=](start_atom) { self->send(peer, ping_atom::value); },
    [=](pong_atom) {
      if (++self->state.round_trips < n) {
        self->send(peer, ping_atom::value);
        return;
      }
      self->send(reporter, done_atom::value, self->state.round_trips);
      self->quit();
    },
  };
}

outcome run_pingpong(caf::actor_system& sys, u64 n) {
  caf::scoped_actor self{sys};
  auto peer = sys.spawn(ponger);
  auto ping = sys.spawn(pinger, peer, handle_of(self), n);
  auto t0 = steady::now();
  self->send(ping, start_atom::value);
  u64 round_trips = 0;
  await(self, "pingpong", [&](done_atom, u64 count) { round_trips = count; });
  outcome r{n, seconds_since(t0), current_rss()};
  check(round_trips == n, "pingpong: wrong number of round trips");
  shut_down({peer});
  return r;
}

// -- fanin --------------------------------------------------------------------

struct counter_state {
  u64 count = 0;
  u64 sum = 0; // sum of all payloads, to detect lost or duplicated messages
};

caf::behavior counter(caf::stateful_actor<counter_state>* self,
                      caf::actor reporter, u64 n) {
  return {[=](u64 value) {
    auto& st = self->state;
    st.sum += value;
    if (++st.count == n) {
      self->send(reporter, done_atom::value, st.count, st.sum);
      self->quit();
    }
  }};
}

// Sends the payloads 0 .. count-1 to `sink` in one handler, then stops.
caf::behavior sender(caf::event_based_actor* self, caf::actor sink, u64 count) {
  return {[=](start_atom) {
    for (u64 i = 0; i < count; ++i)
      self->send(sink, i);
    self->quit();
  }};
}

outcome run_fanin(caf::actor_system& sys, u64 n, u64 k) {
  caf::scoped_actor self{sys};
  auto sink = sys.spawn(counter, handle_of(self), n);
  std::vector<caf::actor> senders;
  u64 expected_sum = 0;
  for (u64 i = 0; i < k; ++i) {
    u64 share = n / k + (i < n % k ? 1 : 0); // shares add up to exactly n
    // 0 + 1 + ... + (share-1), halving the even factor first so the result
    // is exact modulo 2^64, like the counter's running sum.
    expected_sum += share % 2 == 0 ? (share / 2) * (share - 1)
                                   : share * ((share - 1) / 2);
    senders.push_back(sys.spawn(sender, sink, share));
  }
  auto t0 = steady::now();
  for (auto& s : senders)
    self->send(s, start_atom::value);
  u64 count = 0, sum = 0;
  await(self, "fanin", [&](done_atom, u64 c, u64 s) {
    count = c;
    sum = s;
  });
  outcome r{n, seconds_since(t0), current_rss()};
  check(count == n, "fanin: wrong message count");
  check(sum == expected_sum, "fanin: wrong payload sum");
  return r;
}

// -- spawn --------------------------------------------------------------------

caf::behavior one_shot(caf::event_based_actor* self) {
  return {[=](ping_atom) {
    self->quit();
    return pong_atom::value; // the reply is still delivered after quit()
  }};
}

// The answers are read after all N actors are spawned. An unread answer holds
// a reference to its (already stopped) sender, so memory peaks at about N
// actors; rss_bytes for this workload reflects that.
outcome run_spawn(caf::actor_system& sys, u64 n) {
  caf::scoped_actor self{sys};
  auto t0 = steady::now();
  for (u64 i = 0; i < n; ++i)
    self->send(sys.spawn(one_shot), ping_atom::value);
  u64 answers = 0;
  while (answers < n)
    await(self, "spawn", [&](pong_atom) { ++answers; });
  outcome r{n, seconds_since(t0), current_rss()};
  check(answers == n, "spawn: wrong number of answers");
  return r;
}

// -- ring ---------------------------------------------------------------------

struct ring_state {
  caf::actor next;
};

// The token carries the number of hops still to go; the node that receives
// it with 0 left reports its own index.
caf::behavior ring_node(caf::stateful_actor<ring_state>* self, u64 index,
                        caf::actor reporter) {
  return {
    [=](next_atom, caf::actor next) {
      self->state.next = std::move(next);
      return ready_atom::value;
    },
    [=](token_atom, u64 hops_left) {
      if (hops_left > 0)
        self->send(self->state.next, token_atom::value, hops_left - 1);
      else
        self->send(reporter, done_atom::value, index);
    },
  };
}

outcome run_ring(caf::actor_system& sys, u64 n, u64 k) {
  caf::scoped_actor self{sys};
  std::vector<caf::actor> nodes;
  for (u64 i = 0; i < k; ++i)
    nodes.push_back(sys.spawn(ring_node, i, handle_of(self)));
  // Close the ring and wait until every node knows its successor.
  for (u64 i = 0; i < k; ++i)
    self->send(nodes[i], next_atom::value, nodes[(i + 1) % k]);
  for (u64 i = 0; i < k; ++i)
    await(self, "ring", [](ready_atom) {});
  auto t0 = steady::now();
  self->send(nodes[0], token_atom::value, n);
  u64 last = 0;
  await(self, "ring", [&](done_atom, u64 index) { last = index; });
  outcome r{n, seconds_since(t0), current_rss()};
  // Starting at node 0, the token ends at node n mod k after exactly n hops.
  check(last == n % k, "ring: token stopped at the wrong node");
  shut_down(nodes); // also breaks the reference cycle between the nodes
  return r;
}

// -- idle ---------------------------------------------------------------------

// Counts started actors; the last one fulfils the promise. A count is used
// instead of one reply per actor so that no reply messages are buffered
// (and counted in the RSS) while spawning.
struct start_counter {
  u64 expected = 0;
  std::atomic<u64> started{0};
  std::promise<void> all_started;
};

caf::behavior idler(caf::event_based_actor*, start_counter* sc) {
  // This function runs when the actor starts; the behavior it returns keeps
  // the actor alive and waiting until it receives an exit message.
  if (sc->started.fetch_add(1, std::memory_order_acq_rel) + 1 == sc->expected)
    sc->all_started.set_value();
  return {[](ping_atom) {}};
}

outcome run_idle(caf::actor_system& sys, u64 n) {
  start_counter sc;
  sc.expected = n;
  auto all_started = sc.all_started.get_future();
  // Allocate and touch the handle storage before the first measurement.
  std::vector<caf::actor> actors(n);
  u64 rss_before = current_rss();
  auto t0 = steady::now();
  for (u64 i = 0; i < n; ++i)
    actors[i] = sys.spawn(idler, &sc);
  if (all_started.wait_for(stall_limit) != std::future_status::ready)
    fail("idle: not all actors started");
  outcome r{n, seconds_since(t0), current_rss()};
  check(sc.started.load() == n, "idle: wrong number of started actors");
  r.bytes_per_actor = (static_cast<double>(r.rss_bytes)
                       - static_cast<double>(rss_before))
                      / static_cast<double>(n);
  shut_down(actors);
  return r;
}

// -- command line -------------------------------------------------------------

struct options {
  std::string workload;
  u64 n = 0; // 0: workload default
  u64 k = 0; // 0: workload default
  u64 threads = 0;
  u64 capacity = 0; // accepted for compatibility; CAF mailboxes are unbounded
};

u64 parse_number(const char* flag, const char* text, bool allow_zero) {
  u64 value = 0;
  const char* end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc{} || ptr != end || *text == '\0'
      || (value == 0 && !allow_zero))
    usage_error(std::string("bad number for ") + flag + ": '" + text + "'");
  return value;
}

options parse_args(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-')
    usage_error("missing workload");
  options opt;
  opt.workload = argv[1];
  const std::string& w = opt.workload;
  if (w != "pingpong" && w != "fanin" && w != "spawn" && w != "ring"
      && w != "idle")
    usage_error("unknown workload '" + w + "'");
  for (int i = 2; i < argc; i += 2) {
    std::string flag = argv[i];
    if (flag != "--n" && flag != "--k" && flag != "--threads"
        && flag != "--capacity")
      usage_error("unknown flag '" + flag + "'");
    if (i + 1 >= argc)
      usage_error("missing value for " + flag);
    const char* value = argv[i + 1];
    if (flag == "--n")
      opt.n = parse_number("--n", value, false);
    else if (flag == "--k")
      opt.k = parse_number("--k", value, false);
    else if (flag == "--threads")
      opt.threads = parse_number("--threads", value, false);
    else
      opt.capacity = parse_number("--capacity", value, true);
  }
  // Workload defaults for whatever was not given on the command line.
  if (w == "pingpong") {
    if (opt.n == 0) opt.n = 1000000;
  } else if (w == "fanin") {
    if (opt.n == 0) opt.n = 4000000;
    if (opt.k == 0) opt.k = 2;
  } else if (w == "spawn") {
    if (opt.n == 0) opt.n = 200000;
  } else if (w == "ring") {
    if (opt.n == 0) opt.n = 1000000;
    if (opt.k == 0) opt.k = 1000;
  } else { // idle
    if (opt.n == 0) opt.n = 100000;
  }
  if (opt.threads == 0)
    opt.threads = std::max(1u, std::thread::hardware_concurrency());
  return opt;
}

} // namespace

int main(int argc, char** argv) {
  options opt = parse_args(argc, argv);

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", static_cast<size_t>(opt.threads));
  cfg.set("logger.console", caf::atom("none"));
  cfg.set("logger.verbosity", caf::atom("quiet"));

  outcome r;
  {
    caf::actor_system sys{cfg};
    const std::string& w = opt.workload;
    if (w == "pingpong")
      r = run_pingpong(sys, opt.n);
    else if (w == "fanin")
      r = run_fanin(sys, opt.n, opt.k);
    else if (w == "spawn")
      r = run_spawn(sys, opt.n);
    else if (w == "ring")
      r = run_ring(sys, opt.n, opt.k);
    else
      r = run_idle(sys, opt.n);
  } // waits for all actors to terminate

  double units = static_cast<double>(r.units);
  std::printf("{\"workload\":\"%s\",\"n\":%llu", opt.workload.c_str(),
              static_cast<unsigned long long>(opt.n));
  if (opt.workload == "fanin" || opt.workload == "ring")
    std::printf(",\"k\":%llu", static_cast<unsigned long long>(opt.k));
  std::printf(",\"threads\":%llu,\"seconds\":%.6f,\"ns_per_op\":%.1f,"
              "\"ops_per_s\":%.0f,\"rss_bytes\":%llu",
              static_cast<unsigned long long>(opt.threads), r.seconds,
              r.seconds * 1e9 / units, units / r.seconds,
              static_cast<unsigned long long>(r.rss_bytes));
  if (opt.workload == "idle")
    std::printf(",\"bytes_per_actor\":%.1f", r.bytes_per_actor);
  std::printf("}\n");
  return 0;
}
