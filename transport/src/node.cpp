#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <random>
#include <stdexcept>

#include "node_impl.hpp"
#include "local_streams.hpp"
#include "shm_rendezvous.hpp"
#include "shm_segment.hpp"
#include "shm_stream.hpp"
#include "tcp_stream.hpp"

#include <sys/stat.h>
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/transport/cookie.hpp"
#include "troupe/transport/worker.hpp"

extern char** environ;

namespace troupe {

// -- options ---------------------------------------------------------------------

void node_options::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("troupe::node_options: " + what); };
  if (name.size() > 255) bad("name is longer than 255 bytes");
  if (listen && listen_host.empty()) bad("listen_host is empty");
  if (max_frame_bytes < 1024) bad("max_frame_bytes must be at least 1024");
  if (max_frame_bytes > (1u << 30)) bad("max_frame_bytes must be at most 1 GiB");
  if (handshake_timeout.count() <= 0) bad("handshake_timeout must be positive");
  if (heartbeat_interval.count() <= 0) bad("heartbeat_interval must be positive");
  if (heartbeat_timeout <= heartbeat_interval) bad("heartbeat_timeout must be longer than heartbeat_interval");
  if (write_timeout <= heartbeat_interval) bad("write_timeout must be longer than heartbeat_interval");
  if (reconnect_min.count() <= 0 || reconnect_max < reconnect_min) bad("need 0 < reconnect_min <= reconnect_max");
  if (listen_unix.size() >= sizeof(sockaddr_un::sun_path)) bad("listen_unix is longer than a Unix socket path may be");
  if (listen_shm.size() >= sizeof(sockaddr_un::sun_path)) bad("listen_shm is longer than a Unix socket path may be");
  if (!listen_shm.empty() && listen_shm == listen_unix) bad("listen_shm and listen_unix must be different paths");
  if (shm_ring_bytes < transport::shm::min_ring_bytes || shm_ring_bytes > transport::shm::max_ring_bytes ||
      (shm_ring_bytes & (shm_ring_bytes - 1)) != 0) {
    bad("shm_ring_bytes must be a power of two from 4 KiB to 1 GiB");
  }
  if (metrics_log_interval.count() < 0) bad("metrics_log_interval must not be negative");
  if (remote_mailbox_capacity == 0 || remote_mailbox_capacity > mailbox::max_capacity) {
    bad("remote_mailbox_capacity must be between 1 and " + std::to_string(mailbox::max_capacity) + " (mailbox::max_capacity)");
  }
  if (max_transfer_bytes < shared_bytes::transfer_threshold || max_transfer_bytes > (std::size_t{1} << 40)) {
    bad("max_transfer_bytes must be between 64 KiB (shared_bytes::transfer_threshold) and 1 TiB");
  }
}

namespace transport {

namespace {
std::uint64_t random_incarnation() {
  std::uint64_t v = 0;
  while (v == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) {
      throw std::runtime_error("troupe: no random bytes for the node incarnation");
    }
  }
  return v;
}

node_options checked(node_options o) {
  o.validate();
  if (o.name.empty()) o.name = "node-" + std::to_string(::getpid());
  return o;
}
} // namespace

std::unique_ptr<asio::local::stream_protocol::acceptor> node_impl::open_unix_listener(const std::string& path,
                                                                                      std::pair<dev_t, ino_t>& file) {
  using local = asio::local::stream_protocol;
  // A stale socket file from an earlier run (nobody accepts on it) is
  // replaced; a live one, or anything else, is an error.
  struct stat st {};
  boost::system::error_code ec;
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    local::socket probe(io);
    probe.connect(local::endpoint(path), ec);
    if (ec == asio::error::connection_refused) {
      ::unlink(path.c_str());
    } else if (!ec) {
      throw std::runtime_error("troupe: node " + opts.name + ": unix:" + path + " is in use by another process");
    }
    ec.clear();
  }
  auto acceptor = std::make_unique<local::acceptor>(io);
  acceptor->open(local(), ec);
  if (!ec) acceptor->bind(local::endpoint(path), ec);
  if (!ec) ::chmod(path.c_str(), 0600);  // this user's processes only (and the cookie still applies)
  if (!ec && ::stat(path.c_str(), &st) == 0) file = {st.st_dev, st.st_ino};
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("troupe: node " + opts.name + " cannot listen on unix:" + path + ": " + ec.message());
  return acceptor;
}

void node_impl::close_unix_listener(std::unique_ptr<asio::local::stream_protocol::acceptor>& acceptor,
                                    const std::string& path, std::pair<dev_t, ino_t> file) {
  if (!acceptor) return;
  boost::system::error_code ec;
  acceptor->close(ec);
  // Only our own socket file (another node may have replaced it since).
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && st.st_dev == file.first && st.st_ino == file.second) ::unlink(path.c_str());
}

node_impl::node_impl(actor_system& s, node_options o)
    : sys(s), core(s.core()), opts(checked(std::move(o))), incarnation(random_incarnation()) {
  cookie = opts.cookie.empty() ? load_cookie(opts.cookie_file) : opts.cookie;
  work_.emplace(io.get_executor());
  if (opts.listen) {
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(opts.listen_host, ec);
    if (ec) throw std::invalid_argument("troupe::node_options: listen_host '" + opts.listen_host + "' is not an IP address");
    acceptor_ = std::make_unique<tcp::acceptor>(io);
    const tcp::endpoint ep(addr, opts.listen_port);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("troupe: node " + opts.name + " cannot listen on " + opts.listen_host + ":" +
                               std::to_string(opts.listen_port) + ": " + ec.message());
    }
    port = acceptor_->local_endpoint().port();
    accept_next();
  }
  if (!opts.listen_unix.empty()) {
    unix_acceptor_ = open_unix_listener(opts.listen_unix, unix_file_);
    accept_next_local(*unix_acceptor_, opts.listen_unix, /*shm=*/false);
  }
  if (!opts.listen_shm.empty()) {
    shm_acceptor_ = open_unix_listener(opts.listen_shm, shm_file_);
    accept_next_local(*shm_acceptor_, opts.listen_shm, /*shm=*/true);
  }
  if (opts.metrics_log_interval.count() > 0) arm_metrics_log();
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
             opts.listen ? ", listening on " + opts.listen_host + ":" + std::to_string(port) : std::string(),
             opts.listen_unix.empty() ? std::string() : ", on unix:" + opts.listen_unix,
             opts.listen_shm.empty() ? std::string() : ", shared memory through unix:" + opts.listen_shm);
}

node_impl::~node_impl() { stop(); }

void node_impl::stop() {
  if (stopped_) return;
  stopped_ = true;
  // Messages already sent to remote actors go out before the goodbye, for
  // up to a second (a peer that does not read is not waited for longer).
  const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (;;) {
    std::vector<std::shared_ptr<session>> live;
    {
      std::lock_guard lock(mx_);
      for (auto& [n, s] : sessions_) live.push_back(s);
    }
    bool pending = false;
    for (auto& s : live) pending = pending || s->has_pending_output();
    if (!pending || std::chrono::steady_clock::now() > drain_deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stopping_.store(true);
  asio::post(io, [this] {
    boost::system::error_code ec;
    if (acceptor_) acceptor_->close(ec);
    close_unix_listener(unix_acceptor_, opts.listen_unix, unix_file_);
    close_unix_listener(shm_acceptor_, opts.listen_shm, shm_file_);
    std::vector<std::shared_ptr<session>> all;
    {
      std::lock_guard lock(mx_);
      for (auto& [n, s] : sessions_) all.push_back(s);
      for (auto& s : handshaking_) all.push_back(s);
    }
    for (auto& s : all) s->leave("node " + opts.name + " is shutting down");
    {
      std::lock_guard lock(mx_);
      ended_ = std::move(all);
    }
    if (metrics_timer_) metrics_timer_->cancel();
    work_.reset();
    io.stop();
  });
  if (thread_.joinable()) thread_.join();
  acceptor_.reset();
  unix_acceptor_.reset();
  shm_acceptor_.reset();
  // Every proxy runs its node_down turn on the pool (alive: the node goes
  // before its actor system); wait for that so none is left queued.
  std::vector<std::shared_ptr<session>> ended;
  {
    std::lock_guard lock(mx_);
    ended = std::move(ended_);
    ended_.clear();
  }
  const auto close_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& s : ended) {
    while (!s->proxies_closed() && std::chrono::steady_clock::now() < close_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  // Workers got a goodbye and end by themselves; none outlives its node.
  reap_workers(std::chrono::seconds(1));
  std::lock_guard lock(mx_);
  sessions_.clear();
  handshaking_.clear();
  published_.clear();
  exposed_.clear();
}

void node_impl::start_session(std::unique_ptr<byte_stream> stream, handshake::role role,
                              std::optional<dial_target> target, std::shared_ptr<dial_state> waiter, int worker_pid,
                              bool accepted) {
  auto s = std::make_shared<session>(*this, std::move(stream), role, std::move(target), std::move(waiter));
  if (worker_pid > 0) s->set_worker_pid(worker_pid);
  {
    std::lock_guard lock(mx_);
    if (accepted && handshaking_.size() >= max_handshaking) {
      // Unauthenticated connections cost memory: refuse beyond the cap.
      counters.hs_failures.fetch_add(1, std::memory_order_relaxed);
      log().warn("troupe node {}: refusing {}: {} connections are already in their handshake", opts.name,
                 s->remote_endpoint(), max_handshaking);
      s->abandon();
      return;
    }
    handshaking_.insert(s);
  }
  s->start();
}

void node_impl::accept_next() {
  acceptor_->async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
    if (stopping_.load()) return;
    if (!ec) {
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      start_session(make_tcp_stream(std::move(sock)), handshake::role::acceptor, std::nullopt, nullptr, -1, true);
    } else if (ec == asio::error::operation_aborted) {
      return;
    } else {
      log().warn("troupe node {}: accept failed: {}", opts.name, ec.message());
    }
    accept_next();
  });
}

void node_impl::accept_next_local(asio::local::stream_protocol::acceptor& acceptor, const std::string& path, bool shm) {
  acceptor.async_accept([this, &acceptor, &path, shm](const boost::system::error_code& ec,
                                                      asio::local::stream_protocol::socket sock) {
    if (stopping_.load()) return;
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      log().warn("troupe node {}: accept on unix:{} failed: {}", opts.name, path, ec.message());
    } else {
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      if (!shm) {
        start_session(make_unix_stream(std::move(sock), "unix:" + path), handshake::role::acceptor, std::nullopt, nullptr,
                      -1, true);
      } else if (rendezvous_.load(std::memory_order_relaxed) >= max_handshaking) {
        counters.hs_failures.fetch_add(1, std::memory_order_relaxed);
        log().warn("troupe node {}: refusing a shared-memory connection: {} are already in their handshake", opts.name,
                   max_handshaking);
      } else {
        rendezvous_.fetch_add(1, std::memory_order_relaxed);
        shm_rendezvous(*this, std::move(sock), /*connector=*/false, path,
                       [this, &path](std::unique_ptr<byte_stream> stream, const std::string& error) {
                         rendezvous_.fetch_sub(1, std::memory_order_relaxed);
                         if (stopping_.load()) return;
                         if (!stream) {
                           log().warn("troupe node {}: shared-memory connection on unix:{} refused: {}", opts.name, path,
                                      error);
                           return;
                         }
                         start_session(std::move(stream), handshake::role::acceptor, std::nullopt, nullptr, -1, true);
                       });
      }
    }
    accept_next_local(acceptor, path, shm);
  });
}

void node_impl::dial_failed(dial_target target, const std::shared_ptr<dial_state>& waiter, const std::string& why) {
  if (waiter) {
    waiter->finish(nullptr, why);
  } else {
    schedule_reconnect(std::move(target));  // (not when the node is stopping)
  }
}

void node_impl::dial(dial_target target, std::shared_ptr<dial_state> waiter) {
  if (stopping_.load()) return dial_failed(target, waiter, "node is shutting down");
  if (!target.unix_path.empty()) {
    using local = asio::local::stream_protocol;
    auto sock = std::make_shared<local::socket>(io);
    counters.dialed.fetch_add(1, std::memory_order_relaxed);
    sock->async_connect(local::endpoint(target.unix_path), [this, sock, target, waiter](const boost::system::error_code& cec) mutable {
      if (stopping_.load()) return dial_failed(target, waiter, "node is shutting down");
      if (cec) return dial_failed(target, waiter, "cannot connect to unix:" + target.unix_path + ": " + cec.message());
      if (!target.shm) {
        start_session(make_unix_stream(std::move(*sock), "unix:" + target.unix_path), handshake::role::connector,
                      target, waiter);
        return;
      }
      const std::string path = target.unix_path;
      shm_rendezvous(*this, std::move(*sock), /*connector=*/true, path,
                     [this, target, waiter](std::unique_ptr<byte_stream> stream, const std::string& error) mutable {
                       if (stopping_.load()) return dial_failed(target, waiter, "node is shutting down");
                       if (!stream) {
                         return dial_failed(target, waiter,
                                            "shared memory through unix:" + target.unix_path + ": " + error);
                       }
                       start_session(std::move(stream), handshake::role::connector, target, waiter);
                     });
    });
    return;
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(target.host, ec);
  if (!ec) {
    dial_endpoint(std::move(target), tcp::endpoint(addr, target.port), std::move(waiter));
    return;
  }
  // A name: resolved without blocking the I/O thread (its heartbeats go on).
  auto resolver = std::make_shared<tcp::resolver>(io);
  resolver->async_resolve(target.host, std::to_string(target.port),
                          [this, resolver, target, waiter](const boost::system::error_code& rec,
                                                           const tcp::resolver::results_type& results) mutable {
                            if (rec || results.empty()) {
                              return dial_failed(target, waiter,
                                                 "cannot resolve " + target.host + ": " + rec.message());
                            }
                            dial_endpoint(std::move(target), *results.begin(), std::move(waiter));
                          });
}

void node_impl::dial_endpoint(dial_target target, tcp::endpoint ep, std::shared_ptr<dial_state> waiter) {
  if (stopping_.load()) return dial_failed(target, waiter, "node is shutting down");
  auto sock = std::make_shared<tcp::socket>(io);
  counters.dialed.fetch_add(1, std::memory_order_relaxed);
  sock->async_connect(ep, [this, sock, target, waiter](const boost::system::error_code& cec) mutable {
    if (stopping_.load()) return dial_failed(target, waiter, "node is shutting down");
    if (cec) {
      return dial_failed(target, waiter,
                         "cannot connect to " + target.host + ":" + std::to_string(target.port) + ": " + cec.message());
    }
    start_session(make_tcp_stream(std::move(*sock)), handshake::role::connector, target, waiter);
  });
}

void node_impl::arm_metrics_log() {
  if (!metrics_timer_) metrics_timer_ = std::make_unique<asio::steady_timer>(io);
  metrics_timer_->expires_after(opts.metrics_log_interval);
  metrics_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_.load()) return;
    std::size_t sessions = 0;
    {
      std::lock_guard lock(mx_);
      sessions = sessions_.size();
    }
    auto ld = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    const auto& c = counters;
    log().info("troupe node {} metrics: sessions {} (up {}, down {}, reconnects {}); frames in {} out {}; messages in {} "
               "out {}; bytes in {} out {}; refused: handshakes {} (auth {}, timeouts {}), bad frames {}, heartbeat "
               "timeouts {}, write stalls {}",
               opts.name, sessions, ld(c.up), ld(c.down), ld(c.reconnects), ld(c.frames_in), ld(c.frames_out),
               ld(c.msgs_in), ld(c.msgs_out), ld(c.bytes_in), ld(c.bytes_out), ld(c.hs_failures), ld(c.auth_failures),
               ld(c.hs_timeouts), ld(c.bad_frames), ld(c.hb_timeouts), ld(c.write_stalls));
    arm_metrics_log();
  });
}

void node_impl::schedule_reconnect(dial_target target) {
  if (!opts.reconnect || stopping_.load()) return;
  target.backoff = target.backoff.count() == 0 ? opts.reconnect_min : std::min(target.backoff * 2, opts.reconnect_max);
  // +-20 % jitter: nodes that lost each other do not redial in lockstep.
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const auto jitter = std::uniform_real_distribution<double>(0.8, 1.2)(rng);
  auto timer = std::make_shared<asio::steady_timer>(
      io, std::chrono::duration_cast<std::chrono::milliseconds>(target.backoff * jitter));
  timer->async_wait([this, timer, target](const boost::system::error_code& ec) {
    if (ec || stopping_.load()) return;
    counters.reconnects.fetch_add(1, std::memory_order_relaxed);
    dial(target, nullptr);
  });
}

std::string node_impl::admit(const session& s) {
  std::lock_guard lock(mx_);
  auto it = sessions_.find(s.peer_name());
  if (it != sessions_.end() && it->second->alive() && it->second->peer_incarnation() == s.peer_incarnation()) {
    return already_connected;
  }
  return {};
}

bool node_impl::session_up(const std::shared_ptr<session>& s) {
  std::shared_ptr<session> old;
  std::shared_ptr<session> loser;
  {
    std::lock_guard lock(mx_);
    handshaking_.erase(s);
    auto& slot = sessions_[s->peer_name()];
    if (slot && slot != s && slot->alive() && slot->peer_incarnation() == s->peer_incarnation()) {
      // Both nodes dialled each other at once. Both keep the connection
      // dialled by the node with the smaller name, so they agree.
      const bool s_dialled_by_me = s->dialled().has_value();
      const std::string& dialler = s_dialled_by_me ? opts.name : s->peer_name();
      const bool keep_new = dialler == std::min(opts.name, s->peer_name());
      loser = keep_new ? slot : s;
      if (keep_new) slot = s;
    } else {
      if (slot && slot != s) old = std::move(slot);
      slot = s;
    }
  }
  counters.up.fetch_add(1, std::memory_order_relaxed);
  // A new incarnation of a name: the old process is gone for good.
  if (old) old->down("replaced by a new incarnation of " + s->peer_name());
  if (loser) loser->leave("a second connection to " + s->peer_name() + " (both nodes dialled); keeping the other");
  return loser != s;
}

std::shared_ptr<session> node_impl::find_session(const std::string& name) const {
  std::lock_guard lock(mx_);
  auto it = sessions_.find(name);
  return it != sessions_.end() && it->second->alive() ? it->second : nullptr;
}

void node_impl::session_down(session& s, bool was_established) {
  {
    std::lock_guard lock(mx_);
    for (auto it = handshaking_.begin(); it != handshaking_.end(); ++it) {
      if (it->get() == &s) {
        handshaking_.erase(it);
        break;
      }
    }
    if (was_established) {
      auto it = sessions_.find(s.peer_name());
      if (it != sessions_.end() && it->second.get() == &s) sessions_.erase(it);
    }
  }
  if (was_established) counters.down.fetch_add(1, std::memory_order_relaxed);
  // Dialled peers are dialled again (with backoff) once they are gone, and
  // so is a reconnect attempt that failed; a connect() that failed is not.
  if (s.dialled() && !s.duplicate() && (was_established || !s.has_waiter())) {
    dial_target t = *s.dialled();
    if (was_established) t.backoff = {};
    schedule_reconnect(std::move(t));
  }
}

std::shared_ptr<exposed_actor> node_impl::find_exposed(std::uint64_t id) const {
  std::lock_guard lock(mx_);
  auto it = exposed_.find(id);
  return it == exposed_.end() ? nullptr : it->second;
}

std::shared_ptr<exposed_actor> node_impl::find_published(const std::string& name) const {
  std::lock_guard lock(mx_);
  auto it = published_.find(name);
  return it == published_.end() ? nullptr : it->second;
}

bool node_impl::knows_type(const std::string& wire_name) const {
  std::lock_guard lock(mx_);
  return known_types_.contains(wire_name);
}

void node_impl::publish(std::string name, detail::actor_cell* c, const std::type_info& type,
                        std::vector<remote::inbound_type> accepts) {
  if (c == nullptr) throw std::invalid_argument("troupe::node::publish: empty actor_ref");
  auto ex = std::make_shared<exposed_actor>();
  ex->cell = detail::cell_ptr(c);
  ex->type = &type;
  for (const auto& in : accepts) ex->accepts.emplace(*in.name, in);
  std::lock_guard lock(mx_);
  purge_stopped_locked();
  auto [it, fresh] = exposed_.try_emplace(c->id(), ex);
  if (fresh) {
    for (const auto& [n, in] : ex->accepts) ++known_types_[n];
  } else {
    ex = it->second;
  }
  if (!name.empty()) published_[std::move(name)] = ex;
  gen_.fetch_add(1, std::memory_order_acq_rel);
}

void node_impl::purge_stopped_locked() {
  // Actors that stopped are forgotten (their cells freed); a later message
  // to one is a dead letter (not exposed).
  for (auto it = exposed_.begin(); it != exposed_.end();) {
    if (!it->second->cell->box().is_closed()) {
      ++it;
      continue;
    }
    for (const auto& [n, in] : it->second->accepts) {
      if (auto k = known_types_.find(n); k != known_types_.end() && --k->second == 0) known_types_.erase(k);
    }
    it = exposed_.erase(it);
  }
  std::erase_if(published_, [](const auto& kv) { return kv.second->cell->box().is_closed(); });
}

void node_impl::unpublish(std::string_view name) {
  std::lock_guard lock(mx_);
  published_.erase(std::string(name));
  gen_.fetch_add(1, std::memory_order_acq_rel);
}

result<peer> node_impl::connect(dial_target target, std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) throw std::invalid_argument("troupe::node::connect: timeout must not be negative");
  const std::string where = !target.unix_path.empty() ? (target.shm ? "shm:" : "unix:") + target.unix_path
                                                      : target.host + ":" + std::to_string(target.port);
  auto waiter = std::make_shared<dial_state>();
  asio::post(io, [this, t = std::move(target), waiter]() mutable { dial(std::move(t), waiter); });
  return await_dial(*waiter, where, timeout);
}

result<peer> node_impl::await_dial(dial_state& waiter, const std::string& where, std::chrono::milliseconds timeout) {
  std::unique_lock lock(waiter.mx);
  if (!waiter.cv.wait_for(lock, timeout, [&] { return waiter.done; })) {
    return failure{ask_error::timeout, "no session with " + where + " within the timeout"};
  }
  if (waiter.established) return peer(waiter.established);
  return failure{ask_error::node_down, waiter.error};
}

result<peer> node_impl::adopt(int read_fd, int write_fd, bool initiator, std::chrono::milliseconds timeout,
                              int worker_pid) {
  if (timeout.count() < 0) throw std::invalid_argument("troupe::node::adopt: timeout must not be negative");
  if (read_fd < 0 || write_fd < 0) throw std::invalid_argument("troupe::node::adopt: bad descriptor");
  return adopt_stream(make_fd_stream(io, read_fd, write_fd),  // owns them from here on (throws for a bad socket)
                      initiator, timeout, worker_pid);
}

result<peer> node_impl::adopt_stream(std::unique_ptr<byte_stream> stream, bool initiator,
                                     std::chrono::milliseconds timeout, int worker_pid) {
  const std::string where = stream->describe();
  auto waiter = std::make_shared<dial_state>();
  asio::post(io, [this, st = std::move(stream), initiator, waiter, worker_pid]() mutable {
    start_session(std::move(st), initiator ? handshake::role::connector : handshake::role::acceptor, std::nullopt,
                  waiter, worker_pid);
  });
  return await_dial(*waiter, where, timeout);
}

std::optional<peer> node_impl::find_peer(std::string_view name) const {
  std::lock_guard lock(mx_);
  auto it = sessions_.find(std::string(name));
  if (it == sessions_.end() || !it->second->alive()) return std::nullopt;
  return peer(it->second);
}

namespace {
std::string describe_exit(int pid, int status) {
  if (WIFEXITED(status)) {
    return "worker process " + std::to_string(pid) + " exited with code " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "worker process " + std::to_string(pid) + " was killed by signal " + std::to_string(sig) +
           (name != nullptr ? std::string(" (") + name + ")" : std::string());
  }
  return "worker process " + std::to_string(pid) + " ended";
}
} // namespace

std::string node_impl::worker_exit(int pid, const std::string& reason) {
  // The stream closes as the process dies: its exit status follows shortly.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  for (;;) {
    int status = 0;
    {
      std::lock_guard lock(mx_);  // reaping and forgetting the pid are one step
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        std::erase(workers_, pid);
        return describe_exit(pid, status);
      }
      if (r < 0) break;
    }
    // Stopping: no waiting here (reap_workers ends them after the goodbye).
    if (stopping_.load() || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return "worker process " + std::to_string(pid) + " is unreachable: " + reason;
}

void node_impl::reap_workers(std::chrono::milliseconds grace) {
  std::vector<int> pids;
  {
    std::lock_guard lock(mx_);
    pids.swap(workers_);
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (int pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

result<std::pair<peer, int>> node_impl::start_worker(const worker_options& o) {
  if (o.start_timeout.count() < 0) throw std::invalid_argument("troupe::worker_options: start_timeout must not be negative");
  if (stopping_.load()) return failure{ask_error::node_down, "the node is shutting down"};
  {
    // Workers that ended without their exit status being collected (a
    // busy worker outlives its link by a while): reap them now.
    std::lock_guard lock(mx_);
    std::erase_if(workers_, [](int pid) {
      int status = 0;
      return ::waitpid(pid, &status, WNOHANG) == pid;
    });
  }
  // sv[0] is the parent's end, sv[1] the child's (its descriptor 3). Over
  // shared memory the socketpair is the control socket (the doorbell) and
  // the child inherits the segment as descriptor 4; over pipes the child
  // reads descriptor 3 and writes descriptor 4, the parent writes on
  // `parent_write`.
  int sv[2];
  int parent_write = -1;
  shm::link_fds mine, theirs;
  if (o.link == worker_link::pipes) {
    int down[2], up[2];
    if (::pipe2(down, O_CLOEXEC) != 0) return failure{ask_error::node_down, std::string("pipe: ") + std::strerror(errno)};
    if (::pipe2(up, O_CLOEXEC) != 0) {
      const int err = errno;
      ::close(down[0]);
      ::close(down[1]);
      return failure{ask_error::node_down, std::string("pipe: ") + std::strerror(err)};
    }
    sv[0] = up[0];
    sv[1] = down[0];
    parent_write = down[1];
    theirs.segment = up[1];  // the child's descriptor 4
  } else if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return failure{ask_error::node_down, std::string("socketpair: ") + std::strerror(errno)};
  }
  if (o.link == worker_link::shared_memory) {
    try {
      mine.segment = shm::make_segment(opts.shm_ring_bytes);
      theirs.segment = ::fcntl(mine.segment, F_DUPFD_CLOEXEC, 0);
      if (theirs.segment < 0) throw std::system_error(errno, std::generic_category(), "dup");
    } catch (const std::exception& ex) {
      mine.close_all();
      ::close(sv[0]);
      ::close(sv[1]);
      return failure{ask_error::node_down, std::string("cannot make the shared segment: ") + ex.what()};
    }
    mine.control = sv[0];
  }
  static std::atomic<unsigned> seq{0};
  const std::string name = o.name.empty() ? opts.name + "-worker-" + std::to_string(++seq) : o.name;
  // Everything the child needs is made before fork: after it, only
  // async-signal-safe calls until exec.
  struct plan {
    std::string exe;
    std::vector<std::string> args, env;
    std::vector<char*> argv, envp;
    int child_fds[2] = {-1, -1};  // become 3, 4
    pid_t parent = 0;
    std::promise<pid_t> forked;
    std::atomic<int> state{0};  // 0 pending, 1 forking (the I/O thread took it), 2 abandoned (timed out)
  };
  auto p = std::make_shared<plan>();
  p->exe = o.executable.empty() ? "/proc/self/exe" : o.executable;
  p->args = {p->exe, "--troupe-worker",
             o.link == worker_link::shared_memory ? "shm" : o.link == worker_link::pipes ? "pipes" : "socket", name, "--"};
  p->args.insert(p->args.end(), o.args.begin(), o.args.end());
  for (auto& a : p->args) p->argv.push_back(a.data());
  p->argv.push_back(nullptr);
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "TROUPE_COOKIE=", 14) != 0) p->env.emplace_back(*e);
  }
  p->env.push_back("TROUPE_COOKIE=" + cookie);  // the child proves the parent's secret
  for (auto& e : p->env) p->envp.push_back(e.data());
  p->envp.push_back(nullptr);
  p->child_fds[0] = sv[1];
  p->child_fds[1] = theirs.segment;
  p->parent = ::getpid();
  auto pid_future = p->forked.get_future();
  // Fork on the I/O thread: PR_SET_PDEATHSIG follows the forking thread,
  // and this one lives exactly as long as the node.
  asio::post(io, [p] {
    int expected = 0;
    if (!p->state.compare_exchange_strong(expected, 1)) return;  // the caller gave up: no child
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != p->parent) ::_exit(1);  // the parent died already
      // Out of the way first (a source may sit on a target number), then
      // into place; a dup has no close-on-exec.
      int high[2];
      for (int i = 0; i < 2; ++i) high[i] = p->child_fds[i] < 0 ? -1 : ::fcntl(p->child_fds[i], F_DUPFD, 100);
      for (int i = 0; i < 2; ++i) {
        if (high[i] >= 0) ::dup2(high[i], 3 + i);
      }
      // Asio's sockets are not close-on-exec: the worker must not inherit
      // this process's listeners and connections.
      ::close_range(p->child_fds[1] < 0 ? 4 : 5, ~0U, 0);
      ::execve(p->exe.c_str(), p->argv.data(), p->envp.data());
      ::_exit(127);
    }
    const int err = errno;
    for (int fd : p->child_fds) {
      if (fd >= 0) ::close(fd);
    }
    p->forked.set_value(pid < 0 ? -err : pid);
  });
  if (pid_future.wait_for(o.start_timeout) != std::future_status::ready) {
    int expected = 0;
    if (p->state.compare_exchange_strong(expected, 2)) {
      ::close(sv[0]);
      if (parent_write >= 0) ::close(parent_write);
      for (int fd : p->child_fds) {
        if (fd >= 0) ::close(fd);
      }
      mine.control = -1;
      mine.close_all();
      return failure{ask_error::timeout, "the node did not start the worker in time"};
    }
    pid_future.wait();  // the fork is under way: see it through
  }
  const pid_t pid = pid_future.get();
  if (pid < 0) {
    ::close(sv[0]);
    if (parent_write >= 0) ::close(parent_write);
    mine.control = -1;
    mine.close_all();
    return failure{ask_error::node_down, std::string("fork: ") + std::strerror(-pid)};
  }
  {
    std::lock_guard lock(mx_);
    workers_.push_back(pid);
  }
  auto link = o.link == worker_link::shared_memory
                  ? adopt_stream(make_shm_stream(io, mine, "shm worker " + std::to_string(pid)), true, o.start_timeout, pid)
                  : adopt(sv[0], parent_write >= 0 ? parent_write : sv[0], /*initiator=*/true, o.start_timeout, pid);
  if (!link.ok()) {
    {
      std::lock_guard lock(mx_);  // not a pid reaped (and maybe reused) meanwhile
      if (std::find(workers_.begin(), workers_.end(), pid) != workers_.end()) ::kill(pid, SIGKILL);
    }
    return failure{link.error(), "worker " + name + " did not start: " + std::string(link.message())};
  }
  return std::make_pair(link.value(), static_cast<int>(pid));
}

} // namespace transport

// -- node / peer -------------------------------------------------------------------

node::node(actor_system& sys, node_options opts) : impl_(std::make_shared<transport::node_impl>(sys, std::move(opts))) {}
node::~node() { impl_->stop(); }
const std::string& node::name() const noexcept { return impl_->opts.name; }
std::uint64_t node::incarnation() const noexcept { return impl_->incarnation; }
std::uint16_t node::port() const noexcept { return impl_->port; }
result<peer> node::connect(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  return impl_->connect(transport::dial_target{host, port, {}, {}}, timeout);
}
result<peer> node::connect_unix(const std::string& path, std::chrono::milliseconds timeout) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::invalid_argument("troupe::node::connect_unix: the path must have 1 to " +
                                std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  return impl_->connect(transport::dial_target{{}, 0, {}, path}, timeout);
}
result<peer> node::connect_shm(const std::string& path, std::chrono::milliseconds timeout) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::invalid_argument("troupe::node::connect_shm: the path must have 1 to " +
                                std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  return impl_->connect(transport::dial_target{{}, 0, {}, path, true}, timeout);
}

result<peer> node::adopt_shm_worker_link(int first_fd, std::chrono::milliseconds timeout) {
  transport::shm::link_fds fds;
  fds.control = first_fd;
  fds.segment = first_fd + 1;
  fds.side = 1;
  return impl_->adopt_stream(transport::make_shm_stream(impl_->io, fds, "shm parent"), /*initiator=*/false, timeout);
}

result<peer> node::adopt(int read_fd, int write_fd, bool initiator, std::chrono::milliseconds timeout) {
  return impl_->adopt(read_fd, write_fd, initiator, timeout);
}
result<std::pair<peer, int>> node::start_worker(const worker_options& opts) { return impl_->start_worker(opts); }
void peer::close(const std::string& reason) const {
  if (s_) s_->close(reason);
}
void peer::wait_down() const {
  if (s_) s_->wait_ended();
}
std::optional<peer> node::find_peer(std::string_view name) const { return impl_->find_peer(name); }
void node::publish_cell(std::string name, detail::actor_cell* c, const std::type_info& type,
                        std::vector<remote::inbound_type> accepts) {
  impl_->publish(std::move(name), c, type, std::move(accepts));
}
void node::unpublish(std::string_view name) { impl_->unpublish(name); }

node_stats node::stats() const noexcept {
  const auto& c = impl_->counters;
  auto ld = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  node_stats s;
  s.connections_accepted = ld(c.accepted);
  s.connections_dialed = ld(c.dialed);
  s.sessions_up = ld(c.up);
  s.sessions_down = ld(c.down);
  s.handshake_failures = ld(c.hs_failures);
  s.auth_failures = ld(c.auth_failures);
  s.handshake_timeouts = ld(c.hs_timeouts);
  s.bad_frames = ld(c.bad_frames);
  s.heartbeat_timeouts = ld(c.hb_timeouts);
  s.write_stalls = ld(c.write_stalls);
  s.messages_out = ld(c.msgs_out);
  s.messages_in = ld(c.msgs_in);
  s.bytes_out = ld(c.bytes_out);
  s.bytes_in = ld(c.bytes_in);
  s.writes = ld(c.writes);
  s.frames_out = ld(c.frames_out);
  s.frames_in = ld(c.frames_in);
  s.reconnects = ld(c.reconnects);
  s.transfers_out = ld(c.transfers_out);
  s.transfers_back = c.transfers_back.load(std::memory_order_acquire);  // pairs with RETURN: the buffer is in the pool
  return s;
}

const std::string& peer::name() const noexcept {
  static const std::string none;
  return s_ ? s_->peer_name() : none;
}
std::uint64_t peer::incarnation() const noexcept { return s_ ? s_->peer_incarnation() : 0; }
bool peer::alive() const noexcept { return s_ && s_->alive(); }

result<detail::cell_ptr> peer::lookup_cell(std::string_view name, const std::type_info& type,
                                           std::vector<std::string> required, std::chrono::milliseconds timeout) const {
  if (timeout.count() < 0) throw std::invalid_argument("troupe::peer::lookup: timeout must not be negative");
  if (!s_) return failure{ask_error::node_down, "empty peer handle"};
  return s_->lookup(name, type, required, timeout);
}

detail::cell_ptr peer::resolve_cell(std::uint64_t id, const std::type_info& type) const {
  if (!s_ || id == 0) return {};
  return s_->proxy_for(id, type);
}

} // namespace troupe
