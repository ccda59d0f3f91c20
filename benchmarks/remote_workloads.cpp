#include "remote_workloads.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include "ball.hpp"
#include "bench.pb.h"
#include "support/fault_proxy.hpp"

namespace bench {

namespace {

using troupe_bench::Ball;
using troupe_bench::FloodDone;
using troupe_bench::FloodStart;
using troupe_bench::Item;

// -- the serving side -------------------------------------------------------------

/// Sends every ball back to where it came from, with a tell (asks are
/// answered too, for the warm-up).
struct ponger : troupe::actor<ponger> {
  using remote_interface = troupe::accepts<Ball>;
  explicit ponger(troupe::node* n) : back_(n) {}
  Ball on(Ball b) {
    back_.send_back(b);
    return b;
  }
  ball_return back_;
};

struct flood_sink : troupe::actor<flood_sink> {
  using remote_interface = troupe::accepts<FloodStart, Item>;
  troupe::promise<FloodDone> on(FloodStart s) {
    expect_ = s.n();
    count_ = 0;
    sum_ = 0;
    malformed_ = 0;
    done_ = troupe::make_promise<FloodDone>();
    maybe_done();
    return {};
  }
  void on(Item i) {
    ++count_;
    sum_ += i.value();
    if (i.tag().size() != 16) ++malformed_;
    maybe_done();
  }
  void maybe_done() {
    if (count_ != expect_ || !done_.pending()) return;
    FloodDone d;
    d.set_count(malformed_ == 0 ? count_ : -1);
    d.set_sum(sum_);
    d.set_rss_bytes(current_rss());
    done_.deliver(std::move(d));
  }
  std::int64_t expect_ = -1, count_ = 0, sum_ = 0, malformed_ = 0;
  troupe::promise<FloodDone> done_;
};

/// Counts buffers, by transfer (shared_bytes) or by copy (Chunk); checks
/// their first and last byte (what the sender wrote).
struct chunk_sink : troupe::actor<chunk_sink> {
  using remote_interface = troupe::accepts<troupe::shared_bytes, troupe_bench::Chunk, troupe_bench::ChunksStart>;
  troupe::promise<troupe_bench::ChunksDone> on(troupe_bench::ChunksStart s) {
    expect_ = s.n();
    count_ = bytes_ = bad_ = 0;
    done_ = troupe::make_promise<troupe_bench::ChunksDone>();
    maybe_done();
    return {};
  }
  void on(troupe::shared_bytes b) { take(b.view()); }
  void on(troupe_bench::Chunk c) { take(c.data()); }
  void take(std::string_view d) {
    if (d.empty() || d.front() != 'x' || d.back() != 'y') ++bad_;
    ++count_;
    bytes_ += static_cast<std::int64_t>(d.size());
    maybe_done();
  }
  void maybe_done() {
    if (count_ != expect_ || !done_.pending()) return;
    troupe_bench::ChunksDone d;
    d.set_count(bad_ == 0 ? count_ : -1);
    d.set_bytes(bytes_);
    done_.deliver(std::move(d));
  }
  std::int64_t expect_ = -1, count_ = 0, bytes_ = 0, bad_ = 0;
  troupe::promise<troupe_bench::ChunksDone> done_;
};

/// TLS options for the node `name` with the certificates in `dir`.
troupe::tls_options bench_tls(const std::string& dir, const std::string& name) {
  troupe::tls_options t;
  t.certificate_file = dir + "/" + name + ".pem";
  t.private_key_file = dir + "/" + name + ".key";
  t.ca_file = dir + "/ca.pem";
  t.cluster = "bench";
  return t;
}

troupe::node_options client_options(const remote_options& ro, const char* tls_name = "bench-client") {
  troupe::node_options o;
  if (ro.at_most_once) o.delivery = troupe::node_options::delivery_mode::at_most_once;
  o.name = "bench-client-" + std::to_string(::getpid());
  o.listen = false;
  o.reconnect = false;
  if (!ro.tls_dir.empty()) {
    o.name = tls_name;  // as its certificate names it
    o.tls = bench_tls(ro.tls_dir, tls_name);
  }
  return o;
}

/// A serve process started by this one (killed with it), or an address given.
class server {
 public:
  server(const remote_options& o, link how) : how_(how) {
    if (!o.connect.empty()) {
      const auto colon = o.connect.rfind(':');  // HOST:PORT, checked where the flag was parsed
      host_ = o.connect.substr(0, colon);
      port_ = static_cast<std::uint16_t>(std::stoul(o.connect.substr(colon + 1)));
      return;
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) fail("pipe failed");
    int to_child[2] = {-1, -1}, from_child[2] = {-1, -1};
    if (how_ == link::pipes && (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0)) fail("pipe failed");
    const std::string threads = std::to_string(o.threads);
    path_ = "/tmp/troupe-bench-" + std::to_string(::getpid()) + ".sock";
    pid_ = ::fork();
    if (pid_ < 0) fail("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], 1);
      std::string fds;
      if (how_ == link::pipes) {
        // The child's ends survive exec (dup2 clears close-on-exec).
        ::dup2(to_child[0], 3);
        ::dup2(from_child[1], 4);
        fds = "3,4";
      }
      const char* self = o.self.c_str();
      switch (how_) {
        case link::tcp:
        {
          std::vector<const char*> args{self, "serve", "--port", "0", "--threads", threads.c_str(), "--delivery",
                                        o.at_most_once ? "at-most-once" : "reliable"};
          if (!o.tls_dir.empty()) args.insert(args.end(), {"--tls-dir", o.tls_dir.c_str()});
          if (const char* m = metrics_flag()) args.push_back(m);  // the serve side measures the same way
          args.push_back(nullptr);
          ::execv(self, const_cast<char* const*>(args.data()));
          break;
        }
        case link::unix_socket:
          ::execl(self, self, "serve", "--unix", path_.c_str(), "--threads", threads.c_str(), static_cast<char*>(nullptr));
          break;
        case link::shm:
          ::execl(self, self, "serve", "--shm", path_.c_str(), "--threads", threads.c_str(), static_cast<char*>(nullptr));
          break;
        case link::pipes:
          ::execl(self, self, "serve", "--fds", fds.c_str(), "--threads", threads.c_str(), static_cast<char*>(nullptr));
          break;
      }
      ::_exit(127);
    }
    ::close(out[1]);
    if (how_ == link::pipes) {
      ::close(to_child[0]);
      ::close(from_child[1]);
      read_fd_ = from_child[0];
      write_fd_ = to_child[1];
    }
    std::string line;
    const auto deadline = steady::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos) {
      if (steady::now() > deadline) fail("the serve process did not start");
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) fail("the serve process exited at start");
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    if (how_ == link::tcp) {
      const auto at = line.find("\"port\":");
      if (at == std::string::npos) fail("unexpected serve output: " + line);
      port_ = static_cast<std::uint16_t>(std::stoul(line.substr(at + 7)));
      host_ = "127.0.0.1";
    }
  }
  ~server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The TCP port the nodes of this run reach the serve node on.
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  /// From now on this side dials `port` (on the same host) instead: a proxy's.
  void dial_through(std::uint16_t port) noexcept { port_ = port; }

  template <class A>
  troupe::actor_ref<A> lookup(troupe::node& n, const char* name) {
    troupe::result<troupe::peer> p = troupe::failure{troupe::ask_error::timeout, ""};
    switch (how_) {
      case link::tcp: p = n.connect(host_, port_, std::chrono::seconds(10)); break;
      case link::unix_socket: p = n.connect_unix(path_, std::chrono::seconds(10)); break;
      case link::shm: p = n.connect_shm(path_, std::chrono::seconds(10)); break;
      case link::pipes: p = n.adopt(read_fd_, write_fd_, /*initiator=*/true, std::chrono::seconds(10)); break;
    }
    if (!p.ok()) fail("cannot reach the serve node: " + std::string(p.message()));
    auto r = p.value().lookup<A>(name, std::chrono::seconds(10));
    if (!r.ok()) fail("lookup of " + std::string(name) + ": " + std::string(r.message()));
    return r.value();
  }

 private:
  link how_;
  pid_t pid_ = -1;
  std::string host_;
  std::uint16_t port_ = 0;
  std::string path_;
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// -- remote-pingpong ----------------------------------------------------------------

struct start {};
/// One ball in flight: each one that comes back goes out again.
struct pinger : troupe::actor<pinger> {
  using remote_interface = troupe::accepts<Ball>;
  pinger(troupe::actor_ref<ponger> peer, report_ref report, u64 n, std::string node)
      : peer_(std::move(peer)), report_(std::move(report)), n_(static_cast<std::int64_t>(n)), node_(std::move(node)) {}
  void on(start) { serve(0); }
  void on(Ball b) {
    if (b.seq() + 1 == n_) {
      report_.tell(done{0});
    } else {
      serve(b.seq() + 1);
    }
  }
  void serve(std::int64_t seq) {
    Ball b;
    b.set_seq(seq);
    b.set_node(node_);
    b.set_from(self().id());
    peer_.tell(std::move(b));
  }
  troupe::actor_ref<ponger> peer_;
  report_ref report_;
  std::int64_t n_;
  std::string node_;
};

// -- remote-flood --------------------------------------------------------------------

struct go {};
struct flooder : troupe::actor<flooder> {
  flooder(troupe::actor_ref<flood_sink> sink, u64 n) : sink_(std::move(sink)), n_(static_cast<std::int64_t>(n)) {}
  // Sends until done or muted (the connection's queue to the sink is full);
  // when muted it goes on with a deferred `go` once the queue has drained.
  void on(go) {
    while (next_ < n_) {
      Item it;
      it.set_value(next_++);
      it.set_tag("0123456789abcdef");
      if (sink_.tell(std::move(it)) == troupe::send_result::muted) break;
    }
    if (next_ < n_) defer(go{});
  }
  troupe::actor_ref<flood_sink> sink_;
  std::int64_t n_;
  std::int64_t next_ = 0;
};

troupe::system_config config(u64 threads) {
  troupe::system_config c;
  c.threads = threads;
  return with_metrics(std::move(c));
}

} // namespace

outcome run_remote_pingpong(const remote_options& o, link how) {
  server srv(o, how);
  troupe::actor_system sys(config(o.threads));
  troupe::node n(sys, client_options(o));
  auto peer = srv.lookup<ponger>(n, "ponger");
  troupe::inbox<done> in(sys);
  // Warm the path (connection, proxies, type ids) before the clock starts.
  for (int i = 0; i < 100; ++i) {
    if (!peer.ask(Ball{}, stall_limit).get().ok()) fail("remote-pingpong: warm-up ask failed");
  }
  auto a = sys.spawn<pinger>(peer, in.ref(), o.n, n.name());
  n.expose(a);  // the ponger answers it by id
  const auto t0 = steady::now();
  a.tell(start{});
  await(in, "remote-pingpong");
  return {o.n, seconds_since(t0), ""};
}

outcome run_remote_flood(const remote_options& o, link how) {
  server srv(o, how);
  std::optional<troupe::test::fault_proxy> proxy;
  if (o.cut_every.count() > 0) {
    proxy.emplace(srv.port());
    srv.dial_through(proxy->port());
  }
  troupe::actor_system sys(config(o.threads));
  troupe::node n(sys, client_options(o));
  auto sink = srv.lookup<flood_sink>(n, "flood-sink");
  FloodStart s;
  s.set_n(static_cast<std::int64_t>(o.n));
  // Cut, the flood must still end: a loss would leave the receiver waiting.
  auto finished = sink.ask(s, std::chrono::seconds(proxy ? 120 : 600));
  auto f = sys.spawn<flooder>(sink, o.n);
  const auto t0 = steady::now();
  f.tell(go{});
  std::atomic<bool> over{false};
  std::uint64_t cuts = 0;
  std::thread cutter;
  if (proxy) {
    cutter = std::thread([&] {
      for (auto next = steady::now() + o.cut_every; !over.load(); next += o.cut_every) {
        std::this_thread::sleep_until(next);  // the workload's pace, not a synchronisation
        if (over.load()) break;
        proxy->cut();
        ++cuts;
      }
    });
  }
  auto r = finished.get();
  const double secs = seconds_since(t0);
  over.store(true);
  if (cutter.joinable()) cutter.join();
  if (!r.ok()) fail("remote-flood: " + std::string(r.message()) + (proxy ? " (messages lost to the cuts?)" : ""));
  const auto nn = static_cast<std::int64_t>(o.n);
  if (r.value().count() != nn) fail("remote-flood: the receiver counted malformed messages");
  if (r.value().sum() != nn * (nn - 1) / 2) fail("remote-flood: wrong sum (lost or duplicated messages)");
  const auto st = n.stats();
  char buf[256];
  int at = std::snprintf(buf, sizeof buf, ",\"peer_rss_bytes\":%llu,\"writes\":%llu,\"bytes_out\":%llu",
                         static_cast<unsigned long long>(r.value().rss_bytes()),
                         static_cast<unsigned long long>(st.writes), static_cast<unsigned long long>(st.bytes_out));
  if (proxy) {
    // Counted by the receiver and checked by the sum above: nothing lost, nothing twice.
    std::snprintf(buf + at, sizeof buf - static_cast<std::size_t>(at),
                  ",\"cuts\":%llu,\"resumed\":%llu,\"frames_resent\":%llu,\"lost\":0",
                  static_cast<unsigned long long>(cuts), static_cast<unsigned long long>(st.links_resumed),
                  static_cast<unsigned long long>(st.frames_resent));
  }
  return {o.n, secs, buf};
}

// -- shm-transfer / shm-copy --------------------------------------------------------

namespace {
/// Sends n buffers of `bytes`, each filled (as a producer would), by
/// transfer or by copy; at most `window` in flight (the rest waits muted).
struct chunker : troupe::actor<chunker> {
  struct go {};
  chunker(troupe::actor_ref<chunk_sink> to, std::int64_t n, std::size_t bytes, bool transfer)
      : to_(std::move(to)), n_(n), bytes_(bytes), transfer_(transfer) {}
  void on(go) {
    while (next_ < n_) {
      ++next_;
      troupe::send_result r;
      if (transfer_) {
        troupe::shared_bytes b(bytes_);
        std::memset(b.data(), 'z', b.size());
        b.data()[0] = 'x';
        b.data()[b.size() - 1] = 'y';
        r = to_.tell(std::move(b));
      } else {
        troupe_bench::Chunk c;
        std::string* d = c.mutable_data();
        d->assign(bytes_, 'z');
        d->front() = 'x';
        d->back() = 'y';
        r = to_.tell(std::move(c));
      }
      if (r == troupe::send_result::muted) break;
    }
    if (next_ < n_) defer(go{});
  }
  troupe::actor_ref<chunk_sink> to_;
  std::int64_t n_;
  std::size_t bytes_;
  bool transfer_;
  std::int64_t next_ = 0;
};
} // namespace

outcome run_shm_chunks(const remote_options& o, std::size_t bytes, bool transfer) {
  server srv(o, link::shm);
  troupe::actor_system sys(config(o.threads));
  troupe::node n(sys, client_options(o));
  auto sink = srv.lookup<chunk_sink>(n, "chunk-sink");
  troupe_bench::ChunksStart s;
  s.set_n(static_cast<std::int64_t>(o.n));
  auto finished = sink.ask(s, std::chrono::seconds(600));
  auto c = sys.spawn<chunker>(sink, static_cast<std::int64_t>(o.n), bytes, transfer);
  const auto t0 = steady::now();
  c.tell(chunker::go{});
  auto r = finished.get();
  const double secs = seconds_since(t0);
  if (!r.ok()) fail("shm-transfer: " + std::string(r.message()));
  if (r.value().count() != static_cast<std::int64_t>(o.n) || r.value().bytes() != static_cast<std::int64_t>(o.n * bytes)) {
    fail("shm-transfer: the receiver got wrong or missing buffers");
  }
  const auto st = n.stats();
  char buf[200];
  std::snprintf(buf, sizeof buf, ",\"bytes\":%zu,\"mib_per_s\":%.1f,\"transfers\":%llu", bytes,
                static_cast<double>(o.n * bytes) / secs / (1 << 20), static_cast<unsigned long long>(st.transfers_out));
  return {o.n, secs, buf};
}

// -- worker-spawn ---------------------------------------------------------------------

namespace {
/// The root actor of a worker process: answers one ball.
struct worker_root : troupe::actor<worker_root> {
  using remote_interface = troupe::accepts<Ball>;
  Ball on(Ball b) { return b; }
};
} // namespace

void worker_init(troupe::actor_system& sys, troupe::node& n, const std::vector<std::string>&) {
  n.publish("root", sys.spawn<worker_root>());
}

outcome run_worker_spawn(const remote_options& o) {
  troupe::actor_system sys(config(o.threads));
  troupe::node n(sys, client_options(o));
  const auto t0 = steady::now();
  for (u64 i = 0; i < o.n; ++i) {
    auto w = troupe::spawn_worker<worker_root>(n);
    if (!w.ok()) fail("worker-spawn: " + std::string(w.message()));
    Ball b;
    b.set_seq(static_cast<std::int64_t>(i));
    auto r = w.value().root.ask(b, stall_limit).get();
    if (!r.ok() || r.value().seq() != static_cast<std::int64_t>(i)) fail("worker-spawn: no answer from the worker");
    w.value().link.close("done");  // the worker exits; the node reaps it
  }
  return {o.n, seconds_since(t0), ""};
}

std::string make_bench_certs() {
  std::string dir = (std::filesystem::temp_directory_path() / "troupe-bench-certs-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) fail("mkdtemp failed");
  const std::string script = TROUPE_CERTS_SCRIPT;
  std::string cmd = "(" + script + " ca " + dir + " bench";
  for (const char* name : {"bench-client", "bench-client-full", "bench-serve"}) {
    cmd += " && " + script + " node " + dir + " " + name;
  }
  cmd += ") >/dev/null";
  if (std::system(cmd.c_str()) != 0) fail("cannot make certificates with " + script + " (is openssl installed?)");
  return dir;
}

outcome run_tls_connect(const remote_options& o) {
  server srv(o, link::tcp);
  remote_options plain_o = o;
  plain_o.tls_dir.clear();
  server plain_srv(plain_o, link::tcp);  // the reference: the same connects without TLS
  troupe::actor_system sys(config(o.threads));
  // Connects n times; the time of each connect() alone (closing, and the
  // serve node noticing, happen off the clock).
  auto connects = [&](troupe::node& n, const server& to) {
    double total = 0;
    for (u64 i = 0; i < o.n; ++i) {
      const auto t0 = steady::now();
      auto p = n.connect("127.0.0.1", to.port(), std::chrono::seconds(10));
      total += seconds_since(t0);
      if (!p.ok()) fail("tls-connect: " + std::string(p.message()));
      const std::string name = p.value().name();
      p.value().close();
      const auto until = steady::now() + std::chrono::seconds(10);
      while (n.find_peer(name) && steady::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the serve node lets go of it too
    }
    return total;
  };
  auto full_opts = client_options(o, "bench-client-full");
  full_opts.tls->resume_sessions = false;
  troupe::node full(sys, full_opts);
  const double full_s = connects(full, srv);
  troupe::node resuming(sys, client_options(o));
  (void)connects(resuming, srv);  // the first is in full; the rest resume, and leave a ticket
  const double resumed_s = connects(resuming, srv);
  troupe::node plain(sys, client_options(plain_o));
  const double plain_s = connects(plain, plain_srv);
  const auto s = resuming.stats();
  char extra[320];
  std::snprintf(extra, sizeof extra,
                ",\"resumed_ns_per_op\":%.1f,\"plaintext_ns_per_op\":%.1f,\"full_handshakes\":%llu,"
                "\"resumed_handshakes\":%llu",
                resumed_s * 1e9 / static_cast<double>(o.n), plain_s * 1e9 / static_cast<double>(o.n),
                static_cast<unsigned long long>(full.stats().tls_handshakes),
                static_cast<unsigned long long>(s.tls_resumed));
  return {o.n, full_s, extra};
}

void run_serve(const serve_options& so, u64 threads) {
  troupe::actor_system sys(config(threads));
  troupe::node_options opts;
  if (so.at_most_once) opts.delivery = troupe::node_options::delivery_mode::at_most_once;
  opts.name = "bench-serve-" + std::to_string(::getpid());
  opts.listen_port = so.port;
  opts.listen = so.unix_path.empty() && so.shm_path.empty() && so.read_fd < 0;
  opts.listen_unix = so.unix_path;
  opts.listen_shm = so.shm_path;
  if (!so.tls_dir.empty()) {
    opts.name = "bench-serve";  // as its certificate names it
    opts.tls = bench_tls(so.tls_dir, opts.name);
  }
  if (so.metrics_port >= 0) opts.metrics = troupe::metrics_endpoint_options{.port = static_cast<std::uint16_t>(so.metrics_port)};
  troupe::node n(sys, opts);
  n.publish("ponger", sys.spawn<ponger>(&n));
  n.publish("flood-sink", sys.spawn<flood_sink>());
  n.publish("chunk-sink", sys.spawn<chunk_sink>());
  std::printf("{\"workload\":\"serve\",\"port\":%u,\"node\":\"%s\",\"metrics_port\":%u}\n",
              static_cast<unsigned>(n.port()), opts.name.c_str(), static_cast<unsigned>(n.metrics_port()));
  std::fflush(stdout);
  if (so.read_fd >= 0) {
    auto p = n.adopt(so.read_fd, so.write_fd, /*initiator=*/false, std::chrono::seconds(30));
    if (!p.ok()) fail("serve: " + std::string(p.message()));
  }
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

} // namespace bench
