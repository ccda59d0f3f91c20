#include "node/dialer.hpp"

#include <algorithm>
#include <random>

#include "node/node_impl.hpp"
#include "node/shm_rendezvous.hpp"
#include "streams/local_streams.hpp"

namespace troupe::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

std::string describe(const dial_address& a) {
  struct {
    std::string operator()(const tcp_address& t) const { return t.host + ":" + std::to_string(t.port); }
    std::string operator()(const unix_address& u) const { return "unix:" + u.path; }
    std::string operator()(const shm_address& s) const { return "shm:" + s.path; }
  } d;
  return std::visit(d, a);
}

void dialer::failed(dial_target target, const std::shared_ptr<dial_state>& waiter, std::error_code ec,
                    const std::string& why) {
  if (waiter) {
    waiter->finish(nullptr, ec, why);
  } else {
    redial(std::move(target));
  }
}

void dialer::dial(dial_target target, std::shared_ptr<dial_state> waiter) {
  if (node_.stopping()) return failed(target, waiter, errc::shutting_down, "node is shutting down");
  if (const auto* u = std::get_if<unix_address>(&target.where)) return dial_unix(target, u->path, false, waiter);
  if (const auto* s = std::get_if<shm_address>(&target.where)) return dial_unix(target, s->path, true, waiter);
  const auto& t = std::get<tcp_address>(target.where);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(t.host, ec);
  if (!ec) return dial_tcp(std::move(target), tcp::endpoint(addr, t.port), std::move(waiter));
  // A name: resolved without blocking the I/O thread (its heartbeats go on).
  auto resolver = std::make_shared<tcp::resolver>(node_.io);
  resolver->async_resolve(t.host, std::to_string(t.port),
                          [this, resolver, target, waiter](const boost::system::error_code& rec,
                                                           const tcp::resolver::results_type& results) mutable {
                            if (rec || results.empty()) {
                              return failed(target, waiter, errc::io_error,
                                            "cannot resolve " + std::get<tcp_address>(target.where).host + ": " +
                                                rec.message());
                            }
                            dial_tcp(std::move(target), *results.begin(), std::move(waiter));
                          });
}

void dialer::dial_tcp(dial_target target, tcp::endpoint ep, std::shared_ptr<dial_state> waiter) {
  if (node_.stopping()) return failed(target, waiter, errc::shutting_down, "node is shutting down");
  auto sock = std::make_shared<tcp::socket>(node_.io);
  node_.counters.add(counter::connections_dialed);
  sock->async_connect(ep, [this, sock, target, waiter](const boost::system::error_code& ec) mutable {
    if (node_.stopping()) return failed(target, waiter, errc::shutting_down, "node is shutting down");
    if (ec) {
      const std::string why = "cannot connect to " + describe(target.where) + ": " + ec.message();
      if (ec == asio::error::connection_refused) node_.dial_refused(target.where, why);
      return failed(target, waiter, errc::io_error, why);
    }
    auto stream = node_.tcp_stream(std::move(*sock), /*connector=*/true, describe(target.where));
    node_.start_connection(std::move(stream), handshake::role::connector, target, waiter);
  });
}

void dialer::dial_unix(dial_target target, const std::string& path, bool shm, std::shared_ptr<dial_state> waiter) {
  auto sock = std::make_shared<local::socket>(node_.io);
  node_.counters.add(counter::connections_dialed);
  sock->async_connect(local::endpoint(path), [this, sock, target, path, shm, waiter](
                                                 const boost::system::error_code& ec) mutable {
    if (node_.stopping()) return failed(target, waiter, errc::shutting_down, "node is shutting down");
    if (ec) {
      const std::string why = "cannot connect to unix:" + path + ": " + ec.message();
      // No listener behind the path (refused, or the socket file is gone).
      if (ec == asio::error::connection_refused || ec == asio::error::not_found) node_.dial_refused(target.where, why);
      return failed(target, waiter, errc::io_error, why);
    }
    if (!node_.local_peer_allowed(sock->native_handle(), "unix:" + path)) {
      return failed(target, waiter, errc::refused,
                    "the node on unix:" + path + " runs as a user node_options::local_peer_uids does not allow");
    }
    if (!shm) {
      node_.start_connection(make_unix_stream(std::move(*sock), "unix:" + path), handshake::role::connector, target,
                             waiter);
      return;
    }
    shm_rendezvous(node_, std::move(*sock), /*connector=*/true, path,
                   [this, target, path, waiter](std::unique_ptr<byte_stream> stream, const std::string& error) mutable {
                     if (node_.stopping()) return failed(target, waiter, errc::shutting_down, "node is shutting down");
                     if (!stream) {
                       return failed(target, waiter, errc::refused, "shared memory through unix:" + path + ": " + error);
                     }
                     node_.start_connection(std::move(stream), handshake::role::connector, target, waiter);
                   });
  });
}

void dialer::redial(dial_target target, std::shared_ptr<dial_state> waiter) {
  const node_options& o = node_.opts;
  const bool wanted = o.reconnect || (target.resuming && node_.awaits_resume(target.where));
  if (!wanted || node_.stopping()) {
    if (waiter) waiter->finish(nullptr, errc::refused, "the peer still holds a connection this node lost");
    return;
  }
  target.backoff = target.backoff.count() == 0 ? o.reconnect_min : std::min(target.backoff * 2, o.reconnect_max);
  // +-20 % jitter: nodes that lost each other do not redial in lockstep.
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const auto jitter = std::uniform_real_distribution<double>(0.8, 1.2)(rng);
  const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(target.backoff * jitter);
  if (const auto suffix = node_.log_limit.allow(log_limiter::redial_key)) {
    log().info("troupe node {}: dialling {} again in {} ms{}", o.name, describe(target.where), delay.count(), *suffix);
  }
  auto timer = std::make_shared<asio::steady_timer>(node_.io, delay);
  timer->async_wait([this, timer, target, waiter](const boost::system::error_code& ec) {
    if (ec || node_.stopping()) {
      if (waiter) waiter->finish(nullptr, errc::shutting_down, "node is shutting down");
      return;
    }
    node_.counters.add(counter::reconnects);
    dial(target, waiter);
  });
}

void dialer::probe(std::weak_ptr<connection> link, tcp::endpoint at, std::chrono::milliseconds delay) {
  const auto c = link.lock();
  if (!c) return;
  auto timer = std::make_shared<asio::steady_timer>(node_.io, delay);
  timer->async_wait([this, timer, p = probe_state{std::move(link), at, delay, c->carrier()}](
                        const boost::system::error_code& ec) {
    if (!ec) knock(p);
  });
}

bool dialer::still_waiting(const probe_state& p, const std::shared_ptr<connection>& c) const {
  return c && c->suspended() && c->carrier() == p.carrier && !node_.stopping();
}

void dialer::knock(const probe_state& p) {
  if (!still_waiting(p, p.link.lock())) return;
  auto sock = std::make_shared<tcp::socket>(node_.io);
  sock->async_connect(p.at, [this, sock, p](const boost::system::error_code& ec) {
    const auto c = p.link.lock();
    if (!still_waiting(p, c)) return;
    if (ec == asio::error::connection_refused) {
      return c->peer_gone("its listen address " + p.at.address().to_string() + ":" + std::to_string(p.at.port()) +
                          " refuses connections");
    }
    // Something listens there (or the network says nothing): not
    // evidence. The peer is dialling us if it lives; look again later.
    boost::system::error_code ignored;
    sock->close(ignored);
    probe(p.link, p.at, std::clamp(p.delay * 2, node_.opts.reconnect_min, node_.opts.reconnect_max));
  });
}

} // namespace troupe::transport
