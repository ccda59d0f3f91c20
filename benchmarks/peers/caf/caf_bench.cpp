// caf-bench: CAF (C++ Actor Framework, 0.17) peer of troupe-bench.
//
//   caf-bench WORKLOAD [--n N] [--k K] [--threads T] [--capacity C]
//                      [--connect HOST:PORT]
//   caf-bench serve [--port P] [--bind ADDR] [--threads T]
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
//   remote-pingpong  as pingpong, the two actors in two processes over TCP
//             loopback (CAF's io middleman / BASP)              (round trip)
//   remote-flood  one actor sends N messages (an int64 and a 16-byte string)
//             to an actor in another process over TCP loopback; ends when
//             the receiver has counted N                       (message)
//   serve     runs the receiving side of the remote workloads as a
//             standalone node until killed (prints one JSON line with its
//             port); the remote workloads take --connect HOST:PORT to use it
//             instead of starting their own
//
// The remote workloads fork a second process (before any CAF thread exists)
// that publishes the receiving actor on an ephemeral port of 127.0.0.1 and
// reports the port through a pipe; it exits when the parent closes a second
// pipe, and is killed and reaped on every error path. Both processes run
// with --threads scheduler threads (plus CAF's middleman thread). They also
// report "peer_rss_bytes", the receiving process's RSS after the workload.
// CAF mailboxes are unbounded, so in remote-flood the sender runs ahead of
// the network and queues messages in its middleman; rss_bytes shows the cost.
//
// Only the workload itself is timed (steady_clock), never system start-up or
// actor setup that is not part of the workload. All actors are event-based
// actors with behaviors; replies use CAF's "return a value from the handler"
// idiom, everything else uses plain asynchronous send.

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

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
using rss_atom = caf::atom_constant<caf::atom("rss")>;

// A run that makes no progress for this long is reported as a failure
// (exit 1) instead of hanging forever.
constexpr auto stall_limit = std::chrono::seconds(120);
constexpr unsigned stall_limit_s = 120; // the same, for alarm()

// The forked peer process of the remote workloads (-1: none).
pid_t peer_pid = -1;

// Kills and reaps the peer process, if any. Async-signal-safe.
void kill_peer() {
  if (peer_pid > 0) {
    ::kill(peer_pid, SIGKILL);
    while (::waitpid(peer_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    peer_pid = -1;
  }
}

// -- helpers ------------------------------------------------------------------

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr,
               "caf-bench: %s\n"
               "usage: caf-bench pingpong|fanin|spawn|ring|idle"
               "|remote-pingpong|remote-flood"
               " [--n N] [--k K] [--threads T] [--capacity C]"
               " [--connect HOST:PORT]\n"
               "       caf-bench serve [--port P] [--bind ADDR]"
               " [--threads T]\n",
               msg.c_str());
  std::exit(2);
}

// Correctness failure. _Exit: the actor system may be stuck, so skip its
// destructor (which would wait for all actors). Kills the peer process.
[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "caf-bench: %s\n", msg.c_str());
  std::fflush(stderr);
  kill_peer();
  std::_Exit(1);
}

// Guards the steps of the remote workloads that cannot take a timeout
// (connecting, waiting for the peer's port, tearing down): if the alarm
// fires, the peer is killed and the run fails.
extern "C" void on_alarm(int) {
  static const char msg[] = "caf-bench: set-up or shut-down stalled\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  kill_peer();
  ::_exit(1);
}

void arm_watchdog() {
  ::signal(SIGALRM, on_alarm);
  ::alarm(stall_limit_s);
}

void disarm_watchdog() {
  ::alarm(0);
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
  u64 peer_rss_bytes = 0;      // remote workloads only
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

// -- remote workloads ---------------------------------------------------------

// The payload of remote-flood: an int64 and a 16-byte string, sent as two
// message elements (both are CAF built-in types, so no type announcement is
// needed to cross the network).
const std::string flood_payload = "0123456789abcdef";
static_assert(sizeof("0123456789abcdef") == 17, "16-byte payload");

struct server_state {
  u64 expected = 0; // remote-flood: messages to count before reporting
  u64 count = 0;
  u64 sum = 0;   // sum of all int64 payloads
  u64 bytes = 0; // sum of all string sizes
  caf::strong_actor_ptr reporter;
};

// The receiving side of both remote workloads (the actor that the peer
// process or `serve` publishes). It serves one run at a time.
caf::behavior bench_server(caf::stateful_actor<server_state>* self) {
  return {
    // remote-pingpong
    [](ping_atom) { return pong_atom::value; },
    // remote-flood: announce a run of n messages; the sender of this message
    // gets (done, count, sum, bytes) once n messages have been counted.
    [=](start_atom, u64 n) {
      auto& st = self->state;
      st = server_state{};
      st.expected = n;
      st.reporter = self->current_sender();
      return ready_atom::value;
    },
    [=](std::int64_t value, const std::string& payload) {
      auto& st = self->state;
      st.sum += static_cast<u64>(value);
      st.bytes += payload.size();
      if (++st.count == st.expected)
        self->send(caf::actor_cast<caf::actor>(st.reporter), done_atom::value,
                   st.count, st.sum, st.bytes);
    },
    // Both: the RSS of this process, queried after the workload.
    [](rss_atom) { return current_rss(); },
  };
}

// Sends (i, payload) for i = 0 .. n-1 to `sink` in one handler, then stops.
caf::behavior flood_sender(caf::event_based_actor* self, caf::actor sink,
                           u64 n) {
  return {[=](start_atom) {
    for (u64 i = 0; i < n; ++i)
      self->send(sink, static_cast<std::int64_t>(i), flood_payload);
    self->quit();
  }};
}

// Where the receiving side of a remote workload runs.
struct peer_info {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int control_fd = -1; // write end of the pipe that keeps the peer alive
};

u64 peer_rss(caf::scoped_actor& self, const caf::actor& server,
             const char* workload) {
  u64 rss = 0;
  self->request(server, stall_limit, rss_atom::value)
    .receive([&](u64 value) { rss = value; },
             [&](caf::error& err) {
               fail(std::string(workload) + ": peer RSS query failed: "
                    + self->system().render(err));
             });
  return rss;
}

// As await, but fails at once if `server` (monitored by `self`) goes down,
// e.g. because the connection to the peer process broke.
template <class Handler>
void await_remote(caf::scoped_actor& self, const char* workload,
                  Handler handler) {
  self->receive(
    handler,
    [workload](caf::down_msg& down) {
      fail(std::string(workload) + ": lost the receiving actor: "
           + to_string(down.reason));
    },
    caf::after(stall_limit) >> [workload] {
      fail(std::string(workload) + ": no progress for too long");
    });
}

caf::actor connect_to(caf::actor_system& sys, const peer_info& peer,
                      const char* workload) {
  arm_watchdog();
  auto server = sys.middleman().remote_actor(peer.host, peer.port);
  disarm_watchdog();
  if (!server)
    fail(std::string(workload) + ": cannot reach " + peer.host + ":"
         + std::to_string(peer.port) + ": " + sys.render(server.error()));
  return *server;
}

outcome run_remote_pingpong(caf::actor_system& sys, const peer_info& peer,
                            u64 n) {
  auto server = connect_to(sys, peer, "remote-pingpong");
  caf::scoped_actor self{sys};
  self->monitor(server);
  auto ping = sys.spawn(pinger, server, handle_of(self), n);
  auto t0 = steady::now();
  self->send(ping, start_atom::value);
  u64 round_trips = 0;
  await_remote(self, "remote-pingpong",
        [&](done_atom, u64 count) { round_trips = count; });
  outcome r{n, seconds_since(t0), current_rss()};
  check(round_trips == n, "remote-pingpong: wrong number of round trips");
  r.peer_rss_bytes = peer_rss(self, server, "remote-pingpong");
  return r;
}

outcome run_remote_flood(caf::actor_system& sys, const peer_info& peer,
                         u64 n) {
  auto server = connect_to(sys, peer, "remote-flood");
  caf::scoped_actor self{sys};
  self->monitor(server);
  // Announce the run and wait until the receiver is ready (not timed).
  self->request(server, stall_limit, start_atom::value, n)
    .receive([](ready_atom) {},
             [&](caf::error& err) {
               fail("remote-flood: the receiver did not answer: "
                    + sys.render(err));
             });
  auto sender = sys.spawn(flood_sender, server, n);
  auto t0 = steady::now();
  self->send(sender, start_atom::value);
  u64 count = 0, sum = 0, bytes = 0;
  await_remote(self, "remote-flood", [&](done_atom, u64 c, u64 s, u64 b) {
    count = c;
    sum = s;
    bytes = b;
  });
  outcome r{n, seconds_since(t0), current_rss()};
  u64 expected_sum = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
  check(count == n, "remote-flood: wrong message count");
  check(sum == expected_sum, "remote-flood: wrong payload sum");
  check(bytes == n * flood_payload.size(), "remote-flood: wrong payload size");
  r.peer_rss_bytes = peer_rss(self, server, "remote-flood");
  return r;
}

// -- command line -------------------------------------------------------------

struct options {
  std::string workload;
  u64 n = 0; // 0: workload default
  u64 k = 0; // 0: workload default
  u64 threads = 0;
  u64 capacity = 0; // accepted for compatibility; CAF mailboxes are unbounded
  std::string connect_host; // remote workloads: use a `serve` node
  std::uint16_t connect_port = 0;
  std::uint16_t port = 0;   // serve: 0 picks an ephemeral port
  std::string bind = "127.0.0.1"; // serve
  bool remote() const {
    return workload == "remote-pingpong" || workload == "remote-flood";
  }
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

std::uint16_t parse_port(const char* flag, const char* text) {
  u64 value = parse_number(flag, text, true);
  if (value > 65535)
    usage_error(std::string("bad port for ") + flag + ": '" + text + "'");
  return static_cast<std::uint16_t>(value);
}

options parse_args(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-')
    usage_error("missing workload");
  options opt;
  opt.workload = argv[1];
  const std::string& w = opt.workload;
  if (w != "pingpong" && w != "fanin" && w != "spawn" && w != "ring"
      && w != "idle" && w != "remote-pingpong" && w != "remote-flood"
      && w != "serve")
    usage_error("unknown workload '" + w + "'");
  for (int i = 2; i < argc; i += 2) {
    std::string flag = argv[i];
    bool known = flag == "--threads";
    if (w == "serve")
      known = known || flag == "--port" || flag == "--bind";
    else
      known = known || flag == "--n" || flag == "--k" || flag == "--capacity"
              || (opt.remote() && flag == "--connect");
    if (!known)
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
    else if (flag == "--capacity")
      opt.capacity = parse_number("--capacity", value, true);
    else if (flag == "--port")
      opt.port = parse_port("--port", value);
    else if (flag == "--bind") {
      if (*value == '\0')
        usage_error("empty address for --bind");
      opt.bind = value;
    } else { // --connect HOST:PORT
      const char* colon = std::strrchr(value, ':');
      if (colon == nullptr || colon == value)
        usage_error(std::string("--connect needs HOST:PORT, got '") + value
                    + "'");
      opt.connect_host.assign(value, colon);
      opt.connect_port = parse_port("--connect", colon + 1);
      if (opt.connect_port == 0)
        usage_error("--connect needs a non-zero port");
    }
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
  } else if (w == "remote-pingpong") {
    if (opt.n == 0) opt.n = 20000;
  } else if (w == "remote-flood") {
    if (opt.n == 0) opt.n = 1000000;
  } else if (w == "serve") {
    // no workload size
  } else { // idle
    if (opt.n == 0) opt.n = 100000;
  }
  if (opt.threads == 0)
    opt.threads = std::max(1u, std::thread::hardware_concurrency());
  return opt;
}

void configure(caf::actor_system_config& cfg, const options& opt,
               bool with_io) {
  cfg.set("scheduler.max-threads", static_cast<size_t>(opt.threads));
  cfg.set("logger.console", caf::atom("none"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  if (with_io)
    cfg.load<caf::io::middleman>();
}

// Runs the receiving side of the remote workloads: publishes bench_server
// on `bind`:`port` and reports the actual port, either as one JSON line on
// stdout (report_fd < 0: `serve`) or as two bytes on report_fd (the forked
// peer). The forked peer exits when control_fd reaches end of file, i.e.
// when the parent closes it or dies; `serve` runs until killed.
[[noreturn]] void run_server(const options& opt, const std::string& bind,
                             std::uint16_t port, int report_fd,
                             int control_fd) {
  caf::actor_system_config cfg;
  configure(cfg, opt, true);
  caf::actor_system sys{cfg};
  auto server = sys.spawn(bench_server);
  auto actual = sys.middleman().publish(server, port, bind.c_str(), true);
  if (!actual) {
    std::fprintf(stderr, "caf-bench: cannot publish on %s:%u: %s\n",
                 bind.c_str(), static_cast<unsigned>(port),
                 sys.render(actual.error()).c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }
  std::uint16_t p = *actual;
  if (report_fd < 0) {
    std::printf("{\"workload\":\"serve\",\"host\":\"%s\",\"port\":%u}\n",
                bind.c_str(), static_cast<unsigned>(p));
    std::fflush(stdout);
    for (;;)
      ::pause();
  }
  if (::write(report_fd, &p, sizeof p) != static_cast<ssize_t>(sizeof p))
    std::_Exit(1);
  ::close(report_fd);
  char c;
  ssize_t got;
  do
    got = ::read(control_fd, &c, 1);
  while (got > 0 || (got < 0 && errno == EINTR));
  // Skip the actor system's destructor: nothing is left to do, and the
  // parent may already be gone.
  std::_Exit(0);
}

// Forks the peer process of a remote workload (no CAF thread exists yet)
// and waits for the port it publishes on.
peer_info start_peer(const options& opt) {
  int report[2], control[2];
  if (::pipe(report) != 0 || ::pipe(control) != 0)
    fail(std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr); // nothing buffered may be written twice
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0)
    fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Die with the parent even if it is killed before closing the pipe.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      std::_Exit(1);
    ::close(report[0]);
    ::close(control[1]);
    run_server(opt, "127.0.0.1", 0, report[1], control[0]);
  }
  peer_pid = pid;
  ::close(report[1]);
  ::close(control[0]);
  peer_info peer;
  peer.control_fd = control[1];
  arm_watchdog();
  std::uint16_t port = 0;
  size_t have = 0;
  auto* bytes = reinterpret_cast<char*>(&port);
  while (have < sizeof port) {
    ssize_t got = ::read(report[0], bytes + have, sizeof port - have);
    if (got > 0)
      have += static_cast<size_t>(got);
    else if (got == 0)
      fail("the peer process did not start");
    else if (errno != EINTR)
      fail(std::string("read: ") + std::strerror(errno));
  }
  disarm_watchdog();
  ::close(report[0]);
  peer.port = port;
  return peer;
}

// Lets the peer process exit, reaps it, and kills it if it lingers.
void stop_peer(peer_info& peer) {
  if (peer.control_fd >= 0) {
    ::close(peer.control_fd);
    peer.control_fd = -1;
  }
  if (peer_pid <= 0)
    return;
  int status = 0;
  for (int tries = 0; tries < 5000; ++tries) { // up to about 5 s
    pid_t got = ::waitpid(peer_pid, &status, WNOHANG);
    if (got == peer_pid) {
      peer_pid = -1;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("the peer process failed");
      return;
    }
    if (got < 0 && errno != EINTR)
      fail(std::string("waitpid: ") + std::strerror(errno));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  fail("the peer process did not exit");
}

} // namespace

int main(int argc, char** argv) {
  options opt = parse_args(argc, argv);
  const std::string& w = opt.workload;

  if (w == "serve")
    run_server(opt, opt.bind, opt.port, -1, -1);

  // The peer process must be forked before this process starts any thread.
  peer_info peer;
  if (opt.remote()) {
    if (opt.connect_host.empty()) {
      peer = start_peer(opt);
    } else {
      peer.host = opt.connect_host;
      peer.port = opt.connect_port;
    }
  }

  caf::actor_system_config cfg;
  configure(cfg, opt, opt.remote());

  outcome r;
  {
    caf::actor_system sys{cfg};
    if (w == "pingpong")
      r = run_pingpong(sys, opt.n);
    else if (w == "fanin")
      r = run_fanin(sys, opt.n, opt.k);
    else if (w == "spawn")
      r = run_spawn(sys, opt.n);
    else if (w == "ring")
      r = run_ring(sys, opt.n, opt.k);
    else if (w == "remote-pingpong")
      r = run_remote_pingpong(sys, peer, opt.n);
    else if (w == "remote-flood")
      r = run_remote_flood(sys, peer, opt.n);
    else
      r = run_idle(sys, opt.n);
    if (opt.remote())
      arm_watchdog(); // the shut-down below must not hang
  } // waits for all actors to terminate
  if (opt.remote()) {
    stop_peer(peer);
    disarm_watchdog();
  }

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
  if (opt.remote())
    std::printf(",\"peer_rss_bytes\":%llu",
                static_cast<unsigned long long>(r.peer_rss_bytes));
  std::printf("}\n");
  return 0;
}
