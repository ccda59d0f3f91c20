// What a node requires of a link's other end: TLS on TCP (node_options::tls,
// with its reload) and the user id of a peer on a Unix socket
// (node_options::local_peer_uids). The cookie proof runs after either.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "node/node_impl.hpp"
#include "streams/tcp_stream.hpp"
#include "streams/tls_stream.hpp"

namespace troupe::transport {

std::unique_ptr<byte_stream> node_impl::tcp_stream(asio::ip::tcp::socket sock, bool connector,
                                                   std::string session_key) {
  if (!tls) return make_tcp_stream(std::move(sock));
  return make_tls_stream(std::move(sock), tls, connector, std::move(session_key), [this](bool resumed) {
    counters.add(resumed ? counter::tls_resumed : counter::tls_handshakes);
  });
}

bool node_impl::local_peer_allowed(int fd, const std::string& where) {
  ucred cred{};
  socklen_t len = sizeof cred;
  std::string why;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    why = "its credentials cannot be read";
  } else {
    const auto& allowed = opts.local_peer_uids;
    const bool ok = allowed.empty() ? cred.uid == ::geteuid()
                                    : std::find(allowed.begin(), allowed.end(), cred.uid) != allowed.end();
    if (ok) return true;
    why = "user id " + std::to_string(cred.uid) + " (pid " + std::to_string(cred.pid) + ") is not allowed";
  }
  counters.add(counter::local_peers_refused);
  if (auto suffix = log_limit.allow(log_limiter::local_peer_key)) {
    log().warn("troupe node {}: refused a local peer on {}: {} (node_options::local_peer_uids){}", opts.name, where,
               why, *suffix);
  }
  return false;
}

result<bool> node_impl::reload_tls(bool force) {
  if (!tls) return failure(errc::refused, "TLS is off (node_options::tls is not set)");
  try {
    const bool loaded = tls->reload(force);
    if (loaded) log().info("troupe node {}: TLS credentials loaded again from {}", opts.name, opts.tls->certificate_file);
    return loaded;
  } catch (const std::exception& ex) {
    log().warn("troupe node {}: TLS credentials not reloaded, the ones in use stay: {}", opts.name, ex.what());
    return failure(errc::refused, ex.what());
  }
}

void node_impl::arm_tls_reload() {
  if (!tls_timer_) tls_timer_ = std::make_unique<asio::steady_timer>(io);
  tls_timer_->expires_after(opts.tls->reload_check);
  tls_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_.load()) return;
    (void)reload_tls(false);  // logged either way
    arm_tls_reload();
  });
}

} // namespace troupe::transport
