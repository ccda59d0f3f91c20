#include "node/listeners.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "node/node_impl.hpp"
#include "node/shm_rendezvous.hpp"
#include "streams/local_streams.hpp"

namespace troupe::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

void listeners::open() {
  const node_options& o = node_.opts;
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (o.listen) open_tcp();
  if (!o.listen_unix.empty()) {
    open_unix(unix_, o.listen_unix);
    accept_unix(unix_, /*shm=*/false);
  }
  if (!o.listen_shm.empty()) {
    open_unix(shm_, o.listen_shm);
    accept_unix(shm_, /*shm=*/true);
  }
}

void listeners::open_tcp() {
  const node_options& o = node_.opts;
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(o.listen_host, ec);
  if (ec) throw std::invalid_argument("troupe::node_options: listen_host '" + o.listen_host + "' is not an IP address");
  tcp_ = std::make_unique<tcp::acceptor>(node_.io);
  const tcp::endpoint ep(addr, o.listen_port);
  tcp_->open(ep.protocol(), ec);
  if (!ec) tcp_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) tcp_->bind(ep, ec);
  if (!ec) tcp_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("troupe: node " + o.name + " cannot listen on " + o.listen_host + ":" +
                             std::to_string(o.listen_port) + ": " + ec.message());
  }
  port_ = tcp_->local_endpoint().port();
  tcp_retry_ = std::make_unique<asio::steady_timer>(node_.io);
  accept_tcp();
}

void listeners::accept_tcp() {
  tcp_->async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
    if (node_.stopping() || ec == asio::error::operation_aborted) return;
    std::chrono::milliseconds wait{0};
    if (!ec) {
      accept_wait_ = {};
      node_.counters.add(counter::connections_accepted);
      node_.start_connection(node_.tcp_stream(std::move(sock), /*connector=*/false, {}), handshake::role::acceptor,
                             std::nullopt, nullptr, -1, true);
    } else {
      wait = accept_failed(tcp_->native_handle(), ec, node_.opts.listen_host + ":" + std::to_string(port_));
    }
    after(*tcp_retry_, wait, [this] { accept_tcp(); });
  });
}

std::chrono::milliseconds listeners::accept_failed(int fd, const boost::system::error_code& ec,
                                                   const std::string& where) {
  node_.counters.add(counter::accept_failures);
  const bool out_of_descriptors = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                                  ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
  if (out_of_descriptors) {
    // Take the connection waiting with the descriptor kept for this, and
    // refuse it: otherwise it stays queued and every accept fails at once.
    if (reserve_fd_ >= 0) ::close(reserve_fd_);
    if (const int shed = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC); shed >= 0) ::close(shed);
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    accept_wait_ = std::clamp(accept_wait_ * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  }
  if (auto suffix = node_.log_limit.allow(log_limiter::accept_key)) {
    log().warn("troupe node {}: accept on {} failed: {}{}{}", node_.opts.name, where, ec.message(),
               out_of_descriptors ? " (refusing connections for " + std::to_string(accept_wait_.count()) + " ms)" : "",
               *suffix);
  }
  return out_of_descriptors ? accept_wait_ : std::chrono::milliseconds(0);
}

template <class F>
void listeners::after(asio::steady_timer& timer, std::chrono::milliseconds delay, F next) {
  if (delay.count() == 0) return next();
  timer.expires_after(delay);
  timer.async_wait([this, next = std::move(next)](const boost::system::error_code& ec) {
    if (!ec && !node_.stopping()) next();
  });
}

void listeners::open_unix(unix_listener& l, const std::string& path) {
  // A stale socket file from an earlier run (nobody accepts on it) is
  // replaced; a live one, or anything else, is an error.
  struct stat st {};
  boost::system::error_code ec;
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    local::socket probe(node_.io);
    probe.connect(local::endpoint(path), ec);
    if (ec == asio::error::connection_refused) {
      ::unlink(path.c_str());
    } else if (!ec) {
      throw std::runtime_error("troupe: node " + node_.opts.name + ": unix:" + path + " is in use by another process");
    }
    ec.clear();
  }
  l.path = path;
  l.acceptor = std::make_unique<unix_acceptor>(node_.io);
  l.retry = std::make_unique<asio::steady_timer>(node_.io);
  l.acceptor->open(local(), ec);
  if (!ec) l.acceptor->bind(local::endpoint(path), ec);
  if (!ec) ::chmod(path.c_str(), 0600);  // this user's processes only (and the cookie still applies)
  if (!ec && ::stat(path.c_str(), &st) == 0) l.file = {st.st_dev, st.st_ino};
  if (!ec) l.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("troupe: node " + node_.opts.name + " cannot listen on unix:" + path + ": " + ec.message());
}

void listeners::close_unix(unix_listener& l) {
  if (!l.acceptor) return;
  boost::system::error_code ec;
  l.acceptor->close(ec);
  // Only our own socket file (another node may have replaced it since).
  struct stat st {};
  if (::stat(l.path.c_str(), &st) == 0 && st.st_dev == l.file.first && st.st_ino == l.file.second) {
    ::unlink(l.path.c_str());
  }
}

void listeners::accept_unix(unix_listener& l, bool shm) {
  l.acceptor->async_accept([this, &l, shm](const boost::system::error_code& ec, local::socket sock) {
    if (node_.stopping() || ec == asio::error::operation_aborted) return;
    std::chrono::milliseconds wait{0};
    if (ec) {
      wait = accept_failed(l.acceptor->native_handle(), ec, "unix:" + l.path);
    } else {
      accept_wait_ = {};
      node_.counters.add(counter::connections_accepted);
      if (!node_.local_peer_allowed(sock.native_handle(), "unix:" + l.path)) {
        boost::system::error_code ignored;
        sock.close(ignored);
      } else if (shm) {
        on_shm_socket(std::move(sock), l.path);
      } else {
        node_.start_connection(make_unix_stream(std::move(sock), "unix:" + l.path), handshake::role::acceptor,
                               std::nullopt, nullptr, -1, true);
      }
    }
    after(*l.retry, wait, [this, &l, shm] { accept_unix(l, shm); });
  });
}

void listeners::on_shm_socket(local::socket sock, const std::string& path) {
  if (rendezvous_.load(std::memory_order_relaxed) >= node_.opts.max_handshakes) {
    node_.counters.add(counter::handshake_failures);
    log().warn("troupe node {}: refusing a shared-memory connection: {} are already in their handshake",
               node_.opts.name, node_.opts.max_handshakes);
    return;
  }
  rendezvous_.fetch_add(1, std::memory_order_relaxed);
  shm_rendezvous(node_, std::move(sock), /*connector=*/false, path,
                 [this, path](std::unique_ptr<byte_stream> stream, const std::string& error) {
                   rendezvous_.fetch_sub(1, std::memory_order_relaxed);
                   if (node_.stopping()) return;
                   if (!stream) {
                     log().warn("troupe node {}: shared-memory connection on unix:{} refused: {}", node_.opts.name,
                                path, error);
                     return;
                   }
                   node_.start_connection(std::move(stream), handshake::role::acceptor, std::nullopt, nullptr, -1,
                                          true);
                 });
}

void listeners::close() {
  boost::system::error_code ec;
  if (tcp_) tcp_->close(ec);
  if (tcp_retry_) tcp_retry_->cancel();
  if (unix_.retry) unix_.retry->cancel();
  if (shm_.retry) shm_.retry->cancel();
  close_unix(unix_);
  close_unix(shm_);
}

void listeners::reset() noexcept {
  tcp_retry_.reset();
  unix_.retry.reset();
  shm_.retry.reset();
  if (reserve_fd_ >= 0) ::close(std::exchange(reserve_fd_, -1));
  tcp_.reset();
  unix_.acceptor.reset();
  shm_.acceptor.reset();
}

} // namespace troupe::transport
