// troupe-bench: the fixed benchmark driver (see shared/BENCHMARKS.md).
//
//   troupe-bench WORKLOAD [--n N] [--k K] [--threads T] [--capacity C]
//
// Prints exactly one line of JSON on stdout. Usage errors go to stderr with
// exit code 2; a failed correctness check (wrong count, stalled run) with 1.
//
// Workloads (unit of ns_per_op / ops_per_s in parentheses):
//   pingpong  two actors, one message in flight, N round trips   (round trip)
//   fanin     K senders each send N/K messages, in a loop from one handler,
//             to one counter whose mailbox holds at most C (mute_sender) (message)
//   spawn     a thread outside the system spawns N actors and sends each one
//             message; each answers the spawner and stops         (actor)
//   ring      K actors pass one token N hops                      (hop)
//   idle      spawn N waiting actors; bytes_per_actor = RSS growth / N (actor)
//   ask       an actor asks another N times, one ask in flight, the next
//             from each reply's continuation                    (round trip)
//   coro-ask  the same from one coroutine handler, co_await in a loop (round trip)
//   shm-transfer, shm-copy  N buffers of K KiB to another process over shared
//             memory, handed over (shared_bytes) or copied (protobuf bytes) (buffer)
//   tls-connect  N connects with a full TLS 1.3 handshake, then N resumed
//             ones, to a serve process (full connect; resumed_ns_per_op too)
//   --tls     remote-pingpong, remote-flood, remote-flood-cuts over TLS 1.3
//             (certificates made in a temporary directory by scripts/troupe-certs)
//   overload  a fast sender floods an actor spending D ns per message through
//             a spill mailbox holding C in memory (--consumer-ns, --spill-dir) (message);
//             --durable spill|wal|wal-batch|wal-interval: the durable spill, or
//             write-ahead (every message on disk before tell returns) with
//             sync none, per_batch or interval (100 ms)
//
// Only the workload is timed, not system start-up or set-up outside it.

#include <troupe/troupe.hpp>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "bench_common.hpp"
#include "overload.hpp"
#include "ask_workloads.hpp"
#include "cluster_workloads.hpp"
#include "remote_workloads.hpp"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <limits>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace bench;

// -- pingpong -----------------------------------------------------------------

struct pinger;
struct ping {
  troupe::actor_ref<pinger> from;
};
struct pong {};

struct ponger : troupe::actor<ponger> {
  void on(ping p) { p.from.tell(pong{}); }
};

struct pinger : troupe::actor<pinger> {
  pinger(troupe::actor_ref<ponger> peer, report_ref report, u64 n) : peer_(std::move(peer)), report_(std::move(report)), left_(n) {}
  void on(troupe::actor_ref<pinger>) { peer_.tell(ping{self()}); }  // start
  void on(pong) {
    if (--left_ == 0) {
      report_.tell(done{0});
      return;
    }
    peer_.tell(ping{self()});
  }
  troupe::actor_ref<ponger> peer_;
  report_ref report_;
  u64 left_;
};

outcome run_pingpong(troupe::actor_system& sys, u64 n) {
  troupe::inbox<done> in(sys);
  auto b = sys.spawn<ponger>();
  auto a = sys.spawn<pinger>(b, in.ref(), n);
  const auto t0 = steady::now();
  a.tell(a);
  await(in, "pingpong");
  return {n, seconds_since(t0), ""};
}

// -- fanin --------------------------------------------------------------------

struct counter : troupe::actor<counter> {
  counter(report_ref report, u64 n) : report_(std::move(report)), n_(n) {}
  void on(u64 v) {
    sum_ += v;
    if (++count_ == n_) report_.tell(done{sum_});
  }
  report_ref report_;
  u64 n_, count_ = 0, sum_ = 0;
};

struct go {};
struct sender : troupe::actor<sender> {
  sender(troupe::actor_ref<counter> sink, u64 share) : sink_(std::move(sink)), share_(share) {}
  // The loop runs until the share is sent or the sink's mailbox is full;
  // when muted it continues with a deferred `go` once the sink has drained.
  void on(go) {
    while (next_ < share_) {
      if (sink_.tell(next_++) == troupe::send_result::muted) break;
    }
    if (next_ < share_) defer(go{});
  }
  troupe::actor_ref<counter> sink_;
  u64 share_, next_ = 0;
};

outcome run_fanin(troupe::actor_system& sys, u64 n, u64 k, u64 capacity) {
  troupe::inbox<done> in(sys);
  auto sink = sys.spawn_with<counter>({.mailbox = {.capacity = capacity, .policy = troupe::overflow::mute_sender}},
                                      in.ref(), n);
  std::vector<troupe::actor_ref<sender>> senders;
  u64 expected_sum = 0;
  for (u64 i = 0; i < k; ++i) {
    const u64 share = n / k + (i < n % k ? 1 : 0);
    expected_sum += share % 2 == 0 ? (share / 2) * (share - 1) : share * ((share - 1) / 2);
    senders.push_back(sys.spawn<sender>(sink, share));
  }
  const auto t0 = steady::now();
  for (auto& s : senders) s.tell(go{});
  const done d = await(in, "fanin");
  const double secs = seconds_since(t0);
  if (d.value != expected_sum) fail("fanin: wrong payload sum (lost or duplicated messages)");
  return {n, secs, ",\"k\":" + std::to_string(k) + ",\"capacity\":" + std::to_string(capacity)};
}

// -- spawn --------------------------------------------------------------------

struct one_shot : troupe::actor<one_shot> {
  void on(report_ref to) {
    to.tell(done{1});
    stop();
  }
};

outcome run_spawn(troupe::actor_system& sys, u64 n) {
  troupe::inbox<done> in(sys);
  const auto ref = in.ref();
  const auto t0 = steady::now();
  for (u64 i = 0; i < n; ++i) sys.spawn<one_shot>().tell(ref);
  u64 answers = 0;
  while (answers < n) answers += await(in, "spawn").value;
  const double secs = seconds_since(t0);
  return {n, secs, ""};
}

// -- ring ---------------------------------------------------------------------

struct ring_node;
struct token {
  u64 hops_left;
};
struct ring_node : troupe::actor<ring_node> {
  ring_node(report_ref report) : report_(std::move(report)) {}
  void on(troupe::actor_ref<ring_node> next) { next_ = std::move(next); }
  void on(token t) {
    if (t.hops_left == 0) {
      report_.tell(done{0});
      return;
    }
    next_.tell(token{t.hops_left - 1});
  }
  report_ref report_;
  troupe::actor_ref<ring_node> next_;
};

outcome run_ring(troupe::actor_system& sys, u64 n, u64 k) {
  troupe::inbox<done> in(sys);
  std::vector<troupe::actor_ref<ring_node>> nodes;
  nodes.reserve(k);
  for (u64 i = 0; i < k; ++i) nodes.push_back(sys.spawn<ring_node>(in.ref()));
  for (u64 i = 0; i < k; ++i) nodes[i].tell(nodes[(i + 1) % k]);
  // Make sure every node knows its successor before the clock starts: a
  // token that goes once round the ring proves it.
  nodes[0].tell(token{k});
  await(in, "ring set-up");
  const auto t0 = steady::now();
  nodes[0].tell(token{n});
  await(in, "ring");
  return {n, seconds_since(t0), ",\"k\":" + std::to_string(k)};
}

// -- idle ---------------------------------------------------------------------

struct sleeper : troupe::actor<sleeper> {
  void on(done) {}
};

outcome run_idle(troupe::actor_system& sys, u64 n) {
  std::vector<troupe::actor_ref<sleeper>> refs;
  refs.reserve(n);
  const u64 before = current_rss();
  const auto t0 = steady::now();
  for (u64 i = 0; i < n; ++i) refs.push_back(sys.spawn<sleeper>());
  const double secs = seconds_since(t0);
  const u64 after = current_rss();
  char buf[64];
  std::snprintf(buf, sizeof buf, ",\"bytes_per_actor\":%.1f",
                static_cast<double>(after > before ? after - before : 0) / static_cast<double>(n));
  return {n, secs, buf};
}

// -- driver -------------------------------------------------------------------

/// `text` as a whole number from `lo` to `hi`; otherwise a usage error
/// saying `what` the flag needs and quoting `given` (the flag's whole value).
u64 parse_whole(std::string_view flag, std::string_view text, u64 lo, u64 hi, const char* what,
                std::string_view given = {}) {
  u64 v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < lo || v > hi) {
    usage_error(std::string(flag) + " needs " + what + ", not '" + std::string(given.empty() ? text : given) + "'");
  }
  return v;
}

u64 parse_number(std::string_view flag, const char* text) {
  return parse_whole(flag, text, 1, std::numeric_limits<u64>::max(), "a positive whole number");
}

/// A port number, 0 (any free one) to 65535.
u64 parse_port(std::string_view flag, const char* text) { return parse_whole(flag, text, 0, 65535, "0..65535"); }

/// HOST:PORT, checked here so a bad one is refused where it is given.
std::string parse_address(std::string_view flag, const char* text) {
  const std::string_view s(text);
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) usage_error(std::string(flag) + " needs HOST:PORT, not '" + std::string(s) + "'");
  parse_whole(flag, s.substr(colon + 1), 1, 65535, "HOST:PORT with a port of 1..65535", s);
  return std::string(s);
}

struct options {
  std::string workload;
  u64 n = 0, k = 0, threads = 0, capacity = 0, port = 0, consumer_ns = 0, cut_ms = 0;
  std::string spill_dir;
  std::string durable = "none";
  std::string connect;
  std::string unix_path;
  std::string shm_path;
  std::string fds;
  std::string delivery;  // --delivery reliable|at-most-once (remote workloads, serve)
  std::string tls_dir;   // serve --tls-dir DIR
  std::string etcd;      // cluster-member --etcd HOST:PORT
  std::string name;      // cluster-member --name NAME
  bool tls = false;      // --tls (the remote workloads)
  int metrics_port = -1; // serve --metrics-port P
  bool port_given = false;
};

options parse(int argc, char** argv) {
  if (argc < 2) usage_error("missing WORKLOAD");
  options o;
  o.workload = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--tls") {  // the flags without a value
      o.tls = true;
      continue;
    }
    if (a == "--no-metrics" || a == "--actor-metrics") {
      const auto m = a == "--no-metrics" ? bench::metrics_mode::off : bench::metrics_mode::actors;
      if (bench::run_metrics != bench::metrics_mode::on && bench::run_metrics != m) {
        usage_error("--no-metrics and --actor-metrics exclude each other");
      }
      bench::run_metrics = m;
      continue;
    }
    if (i + 1 >= argc) usage_error("flag " + std::string(a) + " needs a value");
    if (a == "--n") o.n = parse_number(a, argv[++i]);
    else if (a == "--k") o.k = parse_number(a, argv[++i]);
    else if (a == "--threads") o.threads = parse_number(a, argv[++i]);
    else if (a == "--capacity") o.capacity = parse_number(a, argv[++i]);
    else if (a == "--connect") o.connect = parse_address(a, argv[++i]);
    else if (a == "--unix") o.unix_path = argv[++i];
    else if (a == "--shm") o.shm_path = argv[++i];
    else if (a == "--consumer-ns") o.consumer_ns = parse_number(a, argv[++i]);
    else if (a == "--spill-dir") o.spill_dir = argv[++i];
    else if (a == "--durable") o.durable = argv[++i];
    else if (a == "--fds") o.fds = argv[++i];
    else if (a == "--cut-ms") o.cut_ms = parse_number(a, argv[++i]);
    else if (a == "--tls-dir") o.tls_dir = argv[++i];
    else if (a == "--etcd") o.etcd = argv[++i];
    else if (a == "--name") o.name = argv[++i];
    else if (a == "--delivery") {
      o.delivery = argv[++i];
      if (o.delivery != "reliable" && o.delivery != "at-most-once") {
        usage_error("--delivery needs reliable or at-most-once, not '" + o.delivery + "'");
      }
    }
    else if (a == "--metrics-port") o.metrics_port = static_cast<int>(parse_port(a, argv[++i]));
    else if (a == "--port") {
      o.port = parse_port(a, argv[++i]);
      o.port_given = true;
    }
    else usage_error("unknown flag " + std::string(a));
  }
  return o;
}

} // namespace

int main(int argc, char** argv) {
  // stdout carries exactly one JSON line; keep stderr to warnings and errors.
  spdlog::set_level(spdlog::level::warn);
  // troupe-bench is also the program its worker-spawn workers run.
  if (auto rc = troupe::run_worker_if_asked(argc, argv, bench::worker_init)) return *rc;
  options o = parse(argc, argv);
  const std::string& w = o.workload;
  auto def = [](u64& v, u64 d) { v = v != 0 ? v : d; };
  if (w == "pingpong") def(o.n, 1'000'000);
  else if (w == "fanin") def(o.n, 4'000'000), def(o.k, 2), def(o.capacity, 1024);
  else if (w == "spawn") def(o.n, 200'000);
  else if (w == "ring") def(o.n, 1'000'000), def(o.k, 1000);
  else if (w == "idle") def(o.n, 100'000);
  else if (w == "ask" || w == "coro-ask") def(o.n, 1'000'000);
  else if (w == "remote-pingpong" || w == "uds-pingpong" || w == "pipe-pingpong") def(o.n, 20'000);
  else if (w == "shm-pingpong") def(o.n, 200'000);
  else if (w == "remote-flood" || w == "shm-flood") def(o.n, 5'000'000);
  else if (w == "remote-flood-cuts") def(o.n, 5'000'000), def(o.cut_ms, 100);
  else if (w == "tls-connect") def(o.n, 200), o.tls = true;
  else if (w == "shm-transfer" || w == "shm-copy") def(o.n, 2000), def(o.k, 1024);
  else if (w == "worker-spawn") def(o.n, 200);
  else if (w == "overload") def(o.n, 2'000'000), def(o.capacity, 1024), def(o.consumer_ns, 1000);
  else if (w == "cluster-join") def(o.n, 8);
  else if (w == "cluster-activate") def(o.n, 1000);
  else if (w == "cluster-call") def(o.n, 20'000);
  else if (w == "cluster-failover") o.n = 1;
  else if (w == "serve" || w == "cluster-member") {}
  else usage_error("unknown workload '" + w + "'");
  if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  const bool remote = w == "remote-pingpong" || w == "remote-flood" || w == "remote-flood-cuts";
  const bool local_link = w == "uds-pingpong" || w == "pipe-pingpong" || w == "shm-pingpong" || w == "shm-flood" ||
                          w == "shm-transfer" || w == "shm-copy" || w == "worker-spawn";
  if (!o.connect.empty() && !remote) usage_error("--connect is for the remote workloads");
  if (o.tls && !remote && w != "tls-connect") usage_error("--tls is for remote-pingpong, remote-flood and remote-flood-cuts");
  if (o.tls && !o.connect.empty()) usage_error("--tls makes its own certificates and serve process: not with --connect");
  if (!o.tls_dir.empty() && w != "serve") usage_error("--tls-dir is for serve (the others take --tls)");
  if (o.metrics_port >= 0 && w != "serve") usage_error("--metrics-port is for serve");
  if (!o.delivery.empty() && !remote && w != "serve") usage_error("--delivery is for remote-pingpong, remote-flood and serve");
  const bool at_most_once = o.delivery == "at-most-once";
  if (o.cut_ms != 0 && w != "remote-flood-cuts") usage_error("--cut-ms is for remote-flood-cuts");
  if (at_most_once && w == "remote-flood-cuts") usage_error("remote-flood-cuts needs reliable delivery: cuts lose messages sent at most once");
  if ((o.port_given || !o.unix_path.empty() || !o.shm_path.empty() || !o.fds.empty()) && w != "serve") {
    usage_error("--port, --unix, --shm and --fds are for serve");
  }
  if ((o.consumer_ns != 0 || !o.spill_dir.empty() || o.durable != "none") && w != "overload") {
    usage_error("--consumer-ns, --spill-dir and --durable are for overload");
  }
  if (o.durable != "none" && o.durable != "spill" && o.durable != "wal" && o.durable != "wal-batch" &&
      o.durable != "wal-interval") {
    usage_error("--durable must be spill, wal, wal-batch or wal-interval");
  }
  const bool cluster = w.rfind("cluster-", 0) == 0;
  if ((!o.etcd.empty() || !o.name.empty()) && w != "cluster-member") usage_error("--etcd and --name are for cluster-member");
  if (w == "cluster-member") {
    if (o.etcd.empty() || o.name.empty() || o.n == 0) usage_error("cluster-member needs --etcd, --name and --n");
    run_cluster_member(o.etcd, o.name, o.n, o.threads);
  }
  if (cluster) {
    const cluster_bench_options co{o.n, o.threads, "/proc/self/exe"};
    const outcome r = w == "cluster-join"       ? run_cluster_join(co)
                      : w == "cluster-activate" ? run_cluster_activate(co)
                      : w == "cluster-call"     ? run_cluster_call(co)
                                                : run_cluster_failover(co);
    std::printf("{\"workload\":\"%s\",\"n\":%llu,\"threads\":%llu,\"seconds\":%.6f,\"ns_per_op\":%.1f,"
                "\"ops_per_s\":%.0f,\"rss_bytes\":%llu%s}\n",
                w.c_str(), static_cast<unsigned long long>(o.n), static_cast<unsigned long long>(o.threads), r.seconds,
                r.seconds * 1e9 / static_cast<double>(r.units), static_cast<double>(r.units) / r.seconds,
                static_cast<unsigned long long>(current_rss()), r.extra.c_str());
    std::fflush(stdout);
    return 0;
  }
  if (w == "overload") {
    if (o.spill_dir.empty()) o.spill_dir = std::filesystem::temp_directory_path().string();
    std::error_code ec;
    if (!std::filesystem::is_directory(o.spill_dir, ec)) usage_error("--spill-dir '" + o.spill_dir + "' is not a directory");
    const outcome r = run_overload({o.n, o.threads, o.capacity, o.consumer_ns, o.spill_dir, o.durable});
    std::printf("{\"workload\":\"overload\",\"n\":%llu,\"threads\":%llu,\"seconds\":%.6f,\"ns_per_op\":%.1f,"
                "\"ops_per_s\":%.0f,\"rss_bytes\":%llu,\"capacity\":%llu,\"consumer_ns\":%llu%s}\n",
                static_cast<unsigned long long>(o.n), static_cast<unsigned long long>(o.threads), r.seconds,
                r.seconds * 1e9 / static_cast<double>(r.units), static_cast<double>(r.units) / r.seconds,
                static_cast<unsigned long long>(current_rss()), static_cast<unsigned long long>(o.capacity),
                static_cast<unsigned long long>(o.consumer_ns), r.extra.c_str());
    std::fflush(stdout);
    return 0;
  }
  if (w == "serve") {
    serve_options so;
    so.port = static_cast<std::uint16_t>(o.port);
    so.unix_path = o.unix_path;
    so.shm_path = o.shm_path;
    so.at_most_once = at_most_once;
    so.tls_dir = o.tls_dir;
    so.metrics_port = o.metrics_port;
    if (!o.fds.empty()) {
      const auto comma = o.fds.find(',');
      if (comma == std::string::npos) usage_error("--fds needs READ,WRITE descriptors");
      so.read_fd = std::atoi(o.fds.substr(0, comma).c_str());
      so.write_fd = std::atoi(o.fds.substr(comma + 1).c_str());
    }
    run_serve(so, o.threads);
  }
  if (remote || local_link || w == "tls-connect") {
    remote_options ro{o.n, o.threads, o.connect, "/proc/self/exe", at_most_once, std::chrono::milliseconds(o.cut_ms), {}};
    if (o.tls) ro.tls_dir = make_bench_certs();
    struct cleanup {
      std::string dir;
      ~cleanup() {
        std::error_code ignored;
        if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
      }
    } remove_certs{ro.tls_dir};
    const outcome r = w == "remote-flood" || w == "remote-flood-cuts" ? run_remote_flood(ro, link::tcp)
                      : w == "tls-connect"     ? run_tls_connect(ro)
                      : w == "shm-flood"       ? run_remote_flood(ro, link::shm)
                      : w == "shm-transfer"    ? run_shm_chunks(ro, o.k * 1024, true)
                      : w == "shm-copy"        ? run_shm_chunks(ro, o.k * 1024, false)
                      : w == "worker-spawn"    ? run_worker_spawn(ro)
                      : w == "uds-pingpong"    ? run_remote_pingpong(ro, link::unix_socket)
                      : w == "pipe-pingpong"   ? run_remote_pingpong(ro, link::pipes)
                      : w == "shm-pingpong"    ? run_remote_pingpong(ro, link::shm)
                                               : run_remote_pingpong(ro, link::tcp);
    std::printf("{\"workload\":\"%s\",\"n\":%llu,\"threads\":%llu,\"seconds\":%.6f,\"ns_per_op\":%.1f,"
                "\"ops_per_s\":%.0f,\"rss_bytes\":%llu%s%s%s}\n",
                w.c_str(), static_cast<unsigned long long>(o.n), static_cast<unsigned long long>(o.threads), r.seconds,
                r.seconds * 1e9 / static_cast<double>(r.units), static_cast<double>(r.units) / r.seconds,
                static_cast<unsigned long long>(current_rss()), r.extra.c_str(), o.tls ? ",\"tls\":true" : "",
                bench::metrics_json());
    std::fflush(stdout);
    return 0;
  }

  outcome r;
  {
    troupe::actor_system sys(bench::with_metrics(troupe::system_config{.threads = o.threads}));
    if (w == "pingpong") r = run_pingpong(sys, o.n);
    else if (w == "fanin") r = run_fanin(sys, o.n, o.k, o.capacity);
    else if (w == "spawn") r = run_spawn(sys, o.n);
    else if (w == "ring") r = run_ring(sys, o.n, o.k);
    else if (w == "ask") r = run_ask(sys, o.n);
    else if (w == "coro-ask") r = run_coro_ask(sys, o.n);
    else r = run_idle(sys, o.n);
    const u64 rss = current_rss();
    std::printf("{\"workload\":\"%s\",\"n\":%llu,\"threads\":%llu,\"seconds\":%.6f,\"ns_per_op\":%.1f,"
                "\"ops_per_s\":%.0f,\"rss_bytes\":%llu%s%s}\n",
                w.c_str(), static_cast<unsigned long long>(o.n), static_cast<unsigned long long>(o.threads), r.seconds,
                r.seconds * 1e9 / static_cast<double>(r.units), static_cast<double>(r.units) / r.seconds,
                static_cast<unsigned long long>(rss), r.extra.c_str(), bench::metrics_json());
    std::fflush(stdout);
  }
  return 0;
}
