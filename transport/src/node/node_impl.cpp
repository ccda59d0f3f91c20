#include "node/node_impl.hpp"

#include <algorithm>

#include <signal.h>
#include <unistd.h>

#include <stdexcept>

#include "link/deadline.hpp"
#include "streams/local_streams.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/transport/cookie.hpp"

namespace troupe::transport {

namespace {
node_options checked(node_options o) {
  o.validate();
  if (o.name.empty()) o.name = "node-" + std::to_string(::getpid());
  // An interrupted link waits at least as long as silence takes to be noticed.
  o.down_after = std::max(o.down_after, o.heartbeat_timeout);
  return o;
}
} // namespace

node_impl::node_impl(actor_system& s, node_options o)
    : sys(s),
      core(detail::system_access::core(s)),
      opts(checked(std::move(o))),
      incarnation(random_id("the node incarnation")),
      listen(*this),
      dial(*this),
      workers(*this) {
  cookie = opts.cookie.empty() ? load_cookie(opts.cookie_file) : opts.cookie;
  if (opts.tls) tls = std::make_shared<tls_context>(*opts.tls, opts.name);  // throws on bad files
  work_.emplace(io.get_executor());
  listen.open();
  if (opts.metrics_log_interval.count() > 0) arm_metrics_log();
  if (tls && opts.tls->reload_check.count() > 0) arm_tls_reload();
  metrics_source_ = sys.add_metrics_source([this](metrics_writer& w) { write_metrics(w); });
  if (opts.metrics) {
    try {
      metrics_endpoint = std::make_unique<metrics_server>(sys, *opts.metrics);
    } catch (...) {
      sys.remove_metrics_source(metrics_source_);
      throw;
    }
  }
  thread_ = std::thread([this] {
    detail::never_block_scope never_block;  // a full local mailbox must not stall the network
    // A pipe's closed reader shows as EPIPE on this thread, not as SIGPIPE.
    sigset_t pipe_only;
    ::sigemptyset(&pipe_only);
    ::sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& ex) {
        log().error("troupe node {}: I/O thread: {}", opts.name, ex.what());
      }
    }
  });
  log().info("troupe node {} (incarnation {:016x}) up{}{}{}", opts.name, incarnation,
             opts.listen ? ", listening on " + opts.listen_host + ":" + std::to_string(listen.port()) +
                               (tls ? " (TLS 1.3 as " + tls->name_of(opts.name) + ")" : std::string())
                         : std::string(),
             opts.listen_unix.empty() ? std::string() : ", on unix:" + opts.listen_unix,
             opts.listen_shm.empty() ? std::string() : ", shared memory through unix:" + opts.listen_shm);
}

node_impl::~node_impl() { stop(); }

void node_impl::drain_output() {
  // Messages already sent to remote actors go out before the goodbye, for
  // up to a second (a peer that does not read is not waited for longer).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (;;) {
    std::vector<std::shared_ptr<connection>> live;
    {
      std::lock_guard lock(mx_);
      for (auto& [n, c] : connections_) live.push_back(c);
    }
    bool pending = false;
    for (auto& c : live) pending = pending || c->has_pending_output();
    if (!pending || std::chrono::steady_clock::now() > deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void node_impl::close_all() {
  listen.close();
  std::vector<std::shared_ptr<connection>> all;
  {
    std::lock_guard lock(mx_);
    for (auto& [n, c] : connections_) all.push_back(c);
    for (auto& c : handshaking_.all()) all.push_back(c);
  }
  for (auto& c : all) c->end(close_reason::shutting_down, opts.name);
  {
    std::lock_guard lock(mx_);
    ended_ = std::move(all);
  }
  if (metrics_timer_) metrics_timer_->cancel();
  if (tls_timer_) tls_timer_->cancel();
  work_.reset();
  io.stop();
}

void node_impl::stop() {
  if (stopped_) return;
  stopped_ = true;
  metrics_endpoint.reset();
  sys.remove_metrics_source(metrics_source_);
  drain_output();
  stopping_.store(true);
  asio::post(io, [this] { close_all(); });
  if (thread_.joinable()) thread_.join();
  listen.reset();
  // Every proxy runs its node_down turn on the pool (alive: the node goes
  // before its actor system); wait for that so none is left queued.
  // Every table the node remembers closes for good (those of peers that
  // went down before too); the connections' own ended so as they closed.
  std::vector<std::shared_ptr<connection>> ended;
  std::vector<std::shared_ptr<proxy_table>> tables;
  {
    std::lock_guard lock(mx_);
    ended.swap(ended_);
    for (auto& [name, k] : known_) {
      if (auto t = k.proxies.lock()) tables.push_back(std::move(t));
    }
    known_.clear();
  }
  for (auto& t : tables) close_proxies(*t, "node " + opts.name + " stopped");
  for (auto& c : ended) tables.push_back(c->shared_proxies());
  const auto close_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  const auto wait_for = [&](auto&& closed) {
    while (!closed() && std::chrono::steady_clock::now() < close_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  for (auto& c : ended) wait_for([&] { return c->outbox_closed(); });
  for (auto& t : tables) wait_for([&] { return t->all_closed(); });
  // Workers got a goodbye and end by themselves; none outlives its node.
  workers.reap_all(std::chrono::seconds(1));
  std::lock_guard lock(mx_);
  connections_.clear();
  handshaking_.clear();
  directory.clear();
}

// -- the registry of connections ------------------------------------------------------

void node_impl::start_connection(std::unique_ptr<byte_stream> stream, handshake::role role,
                                 std::optional<dial_target> target, std::shared_ptr<dial_state> waiter, int worker_pid,
                                 bool accepted) {
  auto c = std::make_shared<connection>(*this, std::move(stream), role, std::move(target), std::move(waiter));
  if (worker_pid > 0) c->set_worker_pid(worker_pid);
  if (accepted) c->set_from_listener();
  std::shared_ptr<connection> evicted;
  {
    // A stranger holds a slot until it authenticates: past the bounds the
    // oldest one from its address (or anywhere) makes room.
    std::lock_guard lock(mx_);
    evicted = handshaking_.add(c, accepted ? c->source_address() : std::string());
  }
  if (evicted == c) {
    // Every slot holds a dial of ours: the stranger waits outside.
    counters.add(counter::handshake_failures);
    c->abandon();
    return;
  }
  if (evicted) evicted->end(close_reason::evicted, "from " + evicted->source_address());
  // An address that failed to authenticate lately waits before it may try again.
  const auto wait = accepted ? penalties.wait_for(c->source_address()) : std::chrono::milliseconds(0);
  if (wait.count() == 0) return c->start();
  expire_after(io, wait, [weak = c->weak_from_this()] {
    if (auto waited = weak.lock()) waited->start();  // unless it was evicted or the node stopped meanwhile
  });
}

std::string node_impl::admit(connection& c) {
  std::lock_guard lock(mx_);
  auto it = connections_.find(c.peer_name());
  if (it != connections_.end() && it->second->alive() && it->second->peer_incarnation() == c.peer_incarnation()) {
    // A connection the peer lost is replaced (by connection_up, which
    // finds it marked here); anything else is a second connection, and
    // the one we have serves.
    if (!replaces_lost(*it->second, c)) return already_connected;
    c.replace(it->second.get());
  }
  return {};
}

bool node_impl::replaces_lost(const connection& existing, const connection& newer) const {
  // The peer dialled both and says it holds no connection with us: it lost
  // the first (a cut only it saw, or we were frozen) and we have not noticed
  // yet. Refusing its redial would keep us apart until our heartbeat ends
  // the old one, and since we did not dial it, nobody would dial again.
  // The old one must also have been silent for two heartbeats: the peer may
  // have two dials of ours in flight at once (each saying it holds none),
  // and the first, alive and heard from, must not be dropped for the second.
  // A refused redial dials again, so a lost connection is replaced as soon
  // as its silence shows. One we dialled ourselves is not replaced this way:
  // when both nodes dial at once, the other's AUTH may predate its own view
  // of our connection (connection_up breaks that tie).
  // An interrupted session the peer did not offer to resume is one it no
  // longer has: it cannot come back, and the new one replaces it at once.
  if (existing.suspended() && newer.peer_redialled()) return true;
  return existing.was_accepted() && newer.peer_redialled() && existing.silent_for() >= 2 * opts.heartbeat_interval;
}

bool node_impl::connection_up(const std::shared_ptr<connection>& c) {
  std::shared_ptr<connection> old;
  std::shared_ptr<connection> lost;
  std::shared_ptr<connection> loser;
  std::shared_ptr<proxy_table> carried;
  std::shared_ptr<proxy_table> gone;
  {
    std::lock_guard lock(mx_);
    handshaking_.remove(*c);
    auto& slot = connections_[c->peer_name()];
    const bool same = slot && slot != c && slot->alive() && slot->peer_incarnation() == c->peer_incarnation();
    if (same && c->replaces() == slot.get()) {
      lost = std::exchange(slot, c);  // admit() found the peer had lost it
    } else if (same) {
      // Both nodes dialled each other at once. Both keep the connection
      // dialled by the node with the smaller name, so they agree.
      const std::string& dialler = c->dialled() ? opts.name : c->peer_name();
      const bool keep_new = dialler == std::min(opts.name, c->peer_name());
      loser = keep_new ? slot : c;
      if (keep_new) slot = c;
    } else {
      if (slot && slot != c) old = std::move(slot);
      slot = c;
    }
    if (loser != c) carried = carry_proxies_locked(c, gone);
  }
  counters.add(counter::sessions_up);
  // A new incarnation of a name: the old process is gone for good.
  if (old) {
    old->end(close_reason::replaced);
    events.down(old->peer_name(), old->peer_incarnation(), "replaced by a new incarnation");
  }
  // Whatever was registered and ends here ends a session: its handles
  // report node_down, so subscribers hear node_down before the node_up.
  if (lost) {
    lost->end(close_reason::peer_reconnected);
    events.down(lost->peer_name(), lost->peer_incarnation(), "the peer lost this connection and dialled again");
  }
  if (loser) {
    loser->end(close_reason::lost_race);
    if (loser != c) events.down(loser->peer_name(), loser->peer_incarnation(), "both nodes dialled: keeping the other");
  }
  if (gone) close_proxies(*gone, "node " + c->peer_name() + " restarted (a new incarnation connected)");
  // The sessions before have ended (above): their proxies are rebound to
  // this one before anyone hears it is up.
  std::vector<detail::cell_ptr> rebound;
  if (carried && carried->resume(c, rebound)) {
    for (auto& p : rebound) static_cast<detail::remote_proxy&>(*p).rebind(c->as_link());
  }
  if (loser != c) events.up(c->peer_name(), c->peer_incarnation());
  return loser != c;
}

std::shared_ptr<proxy_table> node_impl::carry_proxies_locked(const std::shared_ptr<connection>& c,
                                                             std::shared_ptr<proxy_table>& gone) {
  std::erase_if(known_, [](const auto& k) { return k.second.proxies.expired(); });
  known_peer& k = known_[c->peer_name()];
  std::shared_ptr<proxy_table> earlier = k.proxies.lock();
  if (earlier && k.incarnation == c->peer_incarnation() && !earlier->over()) {
    return earlier != c->shared_proxies() && c->take_proxies(earlier) ? earlier : nullptr;
  }
  if (earlier && k.incarnation != c->peer_incarnation()) gone = std::move(earlier);
  k = known_peer{c->peer_incarnation(), c->shared_proxies()};
  c->shared_proxies()->serve(c);
  return nullptr;
}

void node_impl::close_proxies(proxy_table& t, const std::string& why) {
  for (auto& p : t.end(true)) static_cast<detail::remote_proxy&>(*p).node_down(why, nullptr, true);
}

std::shared_ptr<connection> node_impl::find_connection(const std::string& name) const {
  std::lock_guard lock(mx_);
  auto it = connections_.find(name);
  return it != connections_.end() && it->second->alive() ? it->second : nullptr;
}

std::shared_ptr<connection> node_impl::session_for(const std::string& name, std::uint64_t incarnation,
                                                   std::uint64_t session) const {
  auto c = find_connection(name);
  return c && c->resumable() && c->peer_incarnation() == incarnation && c->session() == session ? c : nullptr;
}

void node_impl::handshake_over(connection& c) {
  std::lock_guard lock(mx_);
  handshaking_.remove(c);
}

void node_impl::link_interrupted(connection& c) {
  if (stopping()) return;
  if (!c.dialled()) {
    // The peer dialled: it dials again if it lives. Its listen address
    // says sooner whether it does.
    if (c.peer_listener()) dial.probe(c.weak_from_this(), *c.peer_listener(), std::chrono::milliseconds(0));
    return;
  }
  dial_target t = *c.dialled();
  t.backoff = {};
  t.resuming = true;
  // At once: most cuts are over by the time the new connection is up (a
  // dial that fails goes on with backoff from reconnect_min).
  counters.add(counter::reconnects);
  dial.dial(std::move(t), nullptr);
}

std::vector<std::shared_ptr<connection>> node_impl::interrupted_at(const dial_address& where) const {
  std::vector<std::shared_ptr<connection>> found;
  std::lock_guard lock(mx_);
  for (const auto& [name, c] : connections_) {
    if (c->suspended() && c->dialled() && c->dialled()->where == where) found.push_back(c);
  }
  return found;
}

bool node_impl::awaits_resume(const dial_address& where) const { return !interrupted_at(where).empty(); }

void node_impl::dial_refused(const dial_address& where, const std::string& why) {
  for (auto& c : interrupted_at(where)) c->peer_gone(why);
}

void node_impl::connection_down(connection& c, bool was_established, const std::string& reason,
                                std::shared_ptr<dial_state> waiter) {
  bool registered = false;
  {
    std::lock_guard lock(mx_);
    handshaking_.remove(c);
    if (was_established) {
      auto it = connections_.find(c.peer_name());
      registered = it != connections_.end() && it->second.get() == &c;
      if (registered) connections_.erase(it);
    }
  }
  if (was_established) counters.add(counter::sessions_down);
  if (registered) events.down(c.peer_name(), c.peer_incarnation(), reason);
  // Dialled peers are dialled again (with backoff) once they are gone, and
  // so is a reconnect attempt that failed; a connect() that failed is not,
  // unless the peer refused it for a connection it holds and we lost. An
  // interrupted link that ends is being dialled already.
  if (c.dialled() && !c.duplicate() && !c.suspended() &&
      (was_established || !c.has_waiter() || c.refused_stale())) {
    dial_target t = *c.dialled();
    if (was_established) t.backoff = {};
    dial.redial(std::move(t), std::move(waiter));
  } else if (waiter) {
    waiter->finish(nullptr, errc::refused, "the peer still holds a connection this node lost");
  }
}

std::optional<peer> node_impl::find_peer(std::string_view name) const {
  auto c = find_connection(std::string(name));
  if (!c) return std::nullopt;
  return peer_access::make(std::move(c));
}

std::uint64_t node_impl::messages_in_flight() const {
  std::vector<std::shared_ptr<connection>> all;
  {
    std::lock_guard guard(mx_);
    all.reserve(connections_.size());
    for (const auto& [name, c] : connections_) all.push_back(c);
  }
  std::uint64_t n = 0;
  for (const auto& c : all) n += c->writer().in_flight_messages();  // each under its own write lock
  return n;
}

// -- connecting ---------------------------------------------------------------------

result<peer> node_impl::connect(dial_address where, std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) throw std::invalid_argument("troupe::node::connect: timeout must not be negative");
  blocking_call("troupe::node::connect");
  const std::string what = describe(where);
  auto waiter = std::make_shared<dial_state>();
  asio::post(io, [this, t = dial_target{std::move(where)}, waiter]() mutable { dial.dial(std::move(t), waiter); });
  return await(*waiter, what, timeout);
}

void node_impl::connect_then(dial_address where, std::chrono::milliseconds timeout,
                             std::function<void(result<peer>)> done) {
  if (timeout.count() < 0) throw std::invalid_argument("troupe::node::connect: timeout must not be negative");
  auto waiter = std::make_shared<dial_state>();
  waiter->then = [done = std::move(done)](dial_state& w) { done(outcome(w)); };
  if (stopping()) return waiter->finish(nullptr, errc::shutting_down, "node is shutting down");
  const std::string what = describe(where);
  asio::post(io, [this, t = dial_target{std::move(where)}, waiter, timeout, what]() mutable {
    expire_after(io, timeout, [w = std::weak_ptr<dial_state>(waiter), what] {
      if (auto waiter = w.lock()) {
        waiter->finish(nullptr, ask_error::timeout, "no connection with " + what + " within the timeout");
      }
    });
    dial.dial(std::move(t), waiter);
  });
}

result<peer> node_impl::await(dial_state& waiter, const std::string& where, std::chrono::milliseconds timeout) {
  std::unique_lock lock(waiter.mx);
  if (!waiter.cv.wait_for(lock, timeout, [&] { return waiter.done; })) {
    return failure{ask_error::timeout, "no connection with " + where + " within the timeout"};
  }
  return outcome(waiter);
}

result<peer> node_impl::outcome(const dial_state& waiter) {
  if (waiter.established) return peer_access::make(waiter.established);
  return failure{waiter.error ? waiter.error : make_error_code(ask_error::node_down), waiter.detail};
}

result<peer> node_impl::adopt(int read_fd, int write_fd, bool initiator, std::chrono::milliseconds timeout,
                              int worker_pid) {
  if (timeout.count() < 0) throw std::invalid_argument("troupe::node::adopt: timeout must not be negative");
  if (read_fd < 0 || write_fd < 0) throw std::invalid_argument("troupe::node::adopt: bad descriptor");
  return adopt_stream(make_fd_stream(io, read_fd, write_fd),  // owns them from here on (throws for a bad socket)
                      initiator, timeout, worker_pid);
}

void node_impl::blocking_call(const char* what) {
  // A transport callback waiting for what only this thread can do would
  // wait out its timeout every time (or for ever).
  if (io.get_executor().running_in_this_thread()) {
    throw std::logic_error(std::string(what) + " blocks: not from a transport callback (use its _then form)");
  }
  static std::atomic<bool> warned{false};
  if (detail::current_cell() == nullptr || warned.exchange(true, std::memory_order_relaxed)) return;
  log().warn("troupe: {} was called from an actor's handler: it blocks a worker thread of the actor system until "
             "it ends. Use its form with a continuation there (or the one returning a future outside actors). "
             "Logged once per process.",
             what);
}

result<peer> node_impl::adopt_stream(std::unique_ptr<byte_stream> stream, bool initiator,
                                     std::chrono::milliseconds timeout, int worker_pid) {
  blocking_call("troupe::node::adopt");
  const std::string where = stream->describe();
  auto waiter = std::make_shared<dial_state>();
  asio::post(io, [this, st = std::move(stream), initiator, waiter, worker_pid]() mutable {
    start_connection(std::move(st), initiator ? handshake::role::connector : handshake::role::acceptor, std::nullopt,
                     waiter, worker_pid);
  });
  return await(*waiter, where, timeout);
}

// -- the metrics line ------------------------------------------------------------------

void node_impl::arm_metrics_log() {
  if (!metrics_timer_) metrics_timer_ = std::make_unique<asio::steady_timer>(io);
  metrics_timer_->expires_after(opts.metrics_log_interval);
  metrics_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_.load()) return;
    log_metrics();
    arm_metrics_log();
  });
}

void node_impl::log_metrics() {
  std::size_t open = 0;
  {
    std::lock_guard lock(mx_);
    open = connections_.size();
  }
  std::string line = "connections " + std::to_string(open);
  for (const counter_row& r : counter_table()) line += std::string(", ") + r.name + " " + std::to_string(counters.get(r.id));
  log().info("troupe node {} metrics: {}", opts.name, line);
}

} // namespace troupe::transport
