// The public faces: troupe::node and troupe::peer, over node_impl and connection.
#include <sys/un.h>

#include <stdexcept>

#include "node/node_impl.hpp"
#include "troupe/transport/node_io.hpp"
#include "streams/shm_stream.hpp"

namespace troupe {

namespace {
std::string checked_path(const std::string& path, const char* what) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::invalid_argument(std::string("troupe::node::") + what + ": the path must have 1 to " +
                                std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  return path;
}
} // namespace

node::node(actor_system& sys, node_options opts) : impl_(std::make_shared<transport::node_impl>(sys, std::move(opts))) {}
node::~node() { impl_->stop(); }

boost::asio::io_context& io_context_of(node& n) noexcept { return n.impl_->io; }
const std::string& node::name() const noexcept { return impl_->opts.name; }
std::uint64_t node::incarnation() const noexcept { return impl_->incarnation; }
std::uint16_t node::port() const noexcept { return impl_->listen.port(); }
std::uint16_t node::metrics_port() const noexcept {
  return impl_->metrics_endpoint ? impl_->metrics_endpoint->port() : 0;
}
std::string node::listen_host() const { return impl_->opts.listen ? impl_->opts.listen_host : std::string(); }

result<peer> node::connect(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  return impl_->connect(transport::tcp_address{host, port}, timeout);
}

namespace {
/// A future, and the callback that settles it.
std::pair<std::future<result<peer>>, std::function<void(result<peer>)>> promised() {
  auto p = std::make_shared<std::promise<result<peer>>>();
  auto f = p->get_future();
  return {std::move(f), [p](result<peer> r) { p->set_value(std::move(r)); }};
}
} // namespace

std::future<result<peer>> node::connect_async(const std::string& host, std::uint16_t port,
                                              std::chrono::milliseconds timeout) {
  auto [f, settle] = promised();
  connect_then(host, port, timeout, std::move(settle));
  return std::move(f);
}

std::future<result<peer>> node::connect_unix_async(const std::string& path, std::chrono::milliseconds timeout) {
  auto [f, settle] = promised();
  local_connect_then(false, path, timeout, std::move(settle));
  return std::move(f);
}

std::future<result<peer>> node::connect_shm_async(const std::string& path, std::chrono::milliseconds timeout) {
  auto [f, settle] = promised();
  local_connect_then(true, path, timeout, std::move(settle));
  return std::move(f);
}

void node::local_connect_then(bool shm, const std::string& path, std::chrono::milliseconds timeout,
                              std::function<void(result<peer>)> done) {
  if (shm) {
    impl_->connect_then(transport::shm_address{checked_path(path, "connect_shm")}, timeout, std::move(done));
  } else {
    impl_->connect_then(transport::unix_address{checked_path(path, "connect_unix")}, timeout, std::move(done));
  }
}

void node::connect_then(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                        std::function<void(result<peer>)> done) {
  impl_->connect_then(transport::tcp_address{host, port}, timeout, std::move(done));
}

result<peer> node::connect_unix(const std::string& path, std::chrono::milliseconds timeout) {
  return impl_->connect(transport::unix_address{checked_path(path, "connect_unix")}, timeout);
}

result<peer> node::connect_shm(const std::string& path, std::chrono::milliseconds timeout) {
  return impl_->connect(transport::shm_address{checked_path(path, "connect_shm")}, timeout);
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

result<std::pair<peer, int>> node::start_worker(const worker_options& opts) {
  return impl_->workers.start(opts);
}

void node::start_worker_then(const worker_options& opts, std::function<void(result<std::pair<peer, int>>)> done) {
  impl_->workers.start_then(opts, std::move(done));
}

std::optional<peer> node::find_peer(std::string_view name) const { return impl_->find_peer(name); }

void node::publish_cell(std::string name, detail::actor_cell* c, const std::type_info& type,
                        std::vector<detail::message_decoder> accepts, remote_control allow) {
  impl_->directory.publish(std::move(name), c, type, std::move(accepts), allow);
}

void node::unpublish(std::string_view name) { impl_->directory.unpublish(name); }

void node::subscribe_cell(detail::actor_cell* c, std::function<void(const node_up&)> up,
                          std::function<void(const node_down&)> down,
                          std::function<void(const node_reconnected&)> reconnected) {
  if (c == nullptr) throw std::invalid_argument("troupe::node::subscribe: an empty actor_ref");
  impl_->events.subscribe(detail::cell_ptr(c), [up = std::move(up), down = std::move(down),
                                                reconnected = std::move(reconnected)](const transport::peer_event& e) {
    if (const auto* u = std::get_if<node_up>(&e)) return up(*u);
    if (const auto* d = std::get_if<node_down>(&e)) return down(*d);
    reconnected(std::get<node_reconnected>(e));
  });
}

result<bool> node::reload_tls() { return impl_->reload_tls(/*force=*/true); }

node_stats node::stats() const noexcept {
  node_stats s = impl_->counters.snapshot();
  try {
    s.messages_in_flight = impl_->messages_in_flight();
  } catch (...) {
    // No memory to list the connections: the gauge stays 0 in this snapshot.
  }
  return s;
}

// -- peer ------------------------------------------------------------------------------

const std::string& peer::name() const noexcept {
  static const std::string none;
  return s_ ? s_->peer_name() : none;
}

std::uint64_t peer::incarnation() const noexcept { return s_ ? s_->peer_incarnation() : 0; }

// A peer handle acts on the session that serves its peer's incarnation now:
// the one it was made with, or one that followed it after a node_down.

bool peer::alive() const noexcept {
  if (!s_) return false;
  try {
    return s_->current()->alive();
  } catch (...) {
    return s_->alive();
  }
}

void peer::close(const std::string& reason) const {
  if (s_) s_->current()->end_soon(transport::close_reason::closed, reason);
}

void peer::wait_down() const {
  if (s_) s_->current()->wait_ended();
}

result<detail::cell_ptr> peer::lookup_cell(std::string_view name, const std::type_info& type,
                                           std::vector<std::string> required, std::chrono::milliseconds timeout) const {
  if (timeout.count() < 0) throw std::invalid_argument("troupe::peer::lookup: timeout must not be negative");
  if (!s_) return failure{ask_error::node_down, "empty peer handle"};
  return s_->current()->lookup(name, type, required, timeout);
}

void peer::lookup_cell_then(std::string_view name, const std::type_info& type, std::vector<std::string> required,
                       std::chrono::milliseconds timeout, std::function<void(result<detail::cell_ptr>)> done) const {
  if (timeout.count() < 0) throw std::invalid_argument("troupe::peer::lookup: timeout must not be negative");
  if (!s_) return done(failure{ask_error::node_down, "empty peer handle"});
  s_->current()->lookup_then(name, type, std::move(required), timeout, std::move(done));
}

detail::cell_ptr peer::resolve_cell(std::uint64_t id, const std::type_info& type) const {
  if (!s_ || id == 0) return {};
  return s_->proxy_for(id, type);  // served by the current session
}

} // namespace troupe
