#include "troupe/cluster/cluster.hpp"

#include <algorithm>
#include <future>

#include <boost/asio/post.hpp>

#include "troupe/transport/node_io.hpp"

#include "activator.hpp"
#include "membership.hpp"
#include "names.hpp"
#include "router.hpp"

namespace troupe {

namespace {

using cluster_detail::endpoint;

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument("troupe::cluster_options: " + what); }

bool name_ok(const std::string& s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
         });
}

std::vector<endpoint> checked_endpoints(const cluster_options& o) {
  if (o.etcd.empty()) refuse("etcd: at least one endpoint (host:port) is needed");
  std::vector<endpoint> out;
  for (const auto& e : o.etcd) {
    auto p = cluster_detail::parse_endpoint(e);
    if (!p) refuse("etcd: '" + e + "' is not host:port");
    out.push_back(std::move(*p));
  }
  return out;
}

std::string checked_advertise(const cluster_options& o, const node& n) {
  if (n.port() == 0) refuse("the node does not listen: the other members could not connect to it");
  std::string host = o.advertise_host.empty() ? n.listen_host() : o.advertise_host;
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") {
    refuse("advertise_host: the node listens on every address; say which one the other members reach it at");
  }
  return host;
}

void check(const cluster_options& o) {
  using std::chrono::milliseconds;
  if (!name_ok(o.name)) refuse("name: '" + o.name + "' (letters, digits, '-', '_', '.'; 1 to 128)");
  if (o.ttl < std::chrono::seconds(1) || o.ttl.count() % 1000 != 0) {
    refuse("ttl: " + std::to_string(o.ttl.count()) + " ms (whole seconds, at least 1 s: etcd leases count seconds)");
  }
  if (o.request_timeout < milliseconds(10) || o.request_timeout >= o.ttl / 3) {
    refuse("request_timeout: " + std::to_string(o.request_timeout.count()) +
           " ms (at least 10 ms, under ttl/3 so a renewal ends before the next is due)");
  }
  for (const auto& k : o.kinds) {
    if (!name_ok(k)) refuse("kinds: '" + k + "' (letters, digits, '-', '_', '.'; 1 to 128)");
  }
}

/// Stops what this member hosts, on the I/O thread, and waits for it (not
/// past 2 s: when the node stopped first, nothing runs there any more).
void stop_activations(node& n, const std::shared_ptr<cluster_detail::activations>& acts) {
  auto stopped = std::make_shared<std::promise<void>>();
  auto done = stopped->get_future();
  boost::asio::post(io_context_of(n), [acts, stopped] {
    acts->stop();
    stopped->set_value();
  });
  (void)done.wait_for(std::chrono::seconds(2));
}

} // namespace

cluster::cluster(actor_system& sys, node& n, cluster_options opts) : sys_(sys), node_(n) {
  check(opts);
  auto eps = checked_endpoints(opts);
  auto host = checked_advertise(opts, n);
  const auto timeout = opts.request_timeout;
  m_ = std::make_shared<cluster_detail::membership>(n, std::move(opts), std::move(eps), std::move(host));
  acts_ = std::make_shared<cluster_detail::activations>(n, m_, timeout);
  router_ = std::make_shared<cluster_detail::router>(sys, n, m_, acts_, timeout);
  names_ = std::make_shared<cluster_detail::names>(n, m_);
  acts_->on_leftover([r = std::weak_ptr<cluster_detail::router>(router_)](const std::string& kind,
                                                                           const std::string& identity,
                                                                           detail::envelope* e) {
    auto p = r.lock();
    return p && p->rehome(kind, identity, e);
  });
  m_->on_rejoined([w = std::weak_ptr<cluster_detail::names>(names_)] {
    if (auto p = w.lock()) p->rejoined();
  });
  m_->on_fence([a = std::weak_ptr<cluster_detail::activations>(acts_)](const char* why) {
    if (auto p = a.lock()) p->deactivate_all(why);
  });
  activator_ = sys.spawn<cluster_detail::activator>(n, std::weak_ptr<cluster_detail::activations>(acts_));
  n.publish(cluster_detail::activator_name, activator_);
  m_->start();
}

cluster::~cluster() {
  // Activations stop before the lease goes (so nobody activates an
  // identity while ours still runs), then the membership leaves.
  stop_activations(node_, acts_);
  router_->stop();
  m_->stop(true);
  node_.unpublish(cluster_detail::activator_name);
  activator_.stop();
}

void cluster::add_kind(const std::string& name, kind_options o,
                       std::function<detail::cell_ptr(const std::string& identity)> make,
                       cluster_detail::resolve_fn resolve) {
  if (!name_ok(name)) throw std::invalid_argument("troupe::cluster::kind: '" + name + "' (letters, digits, '-', '_', '.')");
  acts_->add_kind(name, std::move(make), std::move(resolve), o);
  m_->add_kind(name);
}

void cluster::mark_singleton(const std::string& kind) { router_->singleton_kind(kind); }

std::shared_ptr<cluster_detail::identity_slot> cluster::slot(const std::string& kind, const std::string& identity,
                                                             std::size_t max_held, cluster_detail::resolve_fn resolve) {
  if (kind.empty()) throw std::invalid_argument("troupe::cluster::get: an empty kind");
  if (max_held == 0) throw std::invalid_argument("troupe::cluster::get: max_held must be at least 1");
  return router_->slot(kind, identity, std::move(resolve), max_held);
}

std::size_t cluster::active() const { return acts_->active(); }

namespace {
/// Runs `start(done)` on the node's I/O thread and waits up to `timeout`
/// for `done`'s result.
template <class T>
result<T> on_io_and_wait(node& n, std::chrono::milliseconds timeout,
                         std::function<void(std::function<void(result<T>)>)> start) {
  auto p = std::make_shared<std::promise<result<T>>>();
  auto f = p->get_future();
  boost::asio::post(io_context_of(n), [p, start = std::move(start)] {
    start([p](result<T> r) { p->set_value(std::move(r)); });
  });
  if (f.wait_for(timeout) != std::future_status::ready) return failure{ask_error::timeout, "etcd did not answer in time"};
  return f.get();
}
} // namespace

result<bool> cluster::put_name(const std::string& name, detail::cell_ptr cell, const std::type_info& type,
                               std::chrono::milliseconds timeout) {
  if (name.empty()) throw std::invalid_argument("troupe::cluster::put: an empty name");
  {
    std::lock_guard lock(local_mx_);
    local_names_.insert_or_assign(name, std::make_pair(cell, &type));
  }
  auto r = on_io_and_wait<bool>(node_, timeout, [n = names_, name](auto done) { n->put(name, std::move(done)); });
  if (!r) {
    std::lock_guard lock(local_mx_);
    local_names_.erase(name);
  }
  return r;
}

result<std::string> cluster::name_holder(const std::string& name, std::chrono::milliseconds timeout) {
  return on_io_and_wait<std::string>(node_, timeout, [n = names_, name](auto done) { n->holder(name, std::move(done)); });
}

result<detail::cell_ptr> cluster::local_name(const std::string& name, const std::type_info& type) {
  std::lock_guard lock(local_mx_);
  auto it = local_names_.find(name);
  if (it == local_names_.end() || it->second.first->box().is_closed()) {
    return failure{errc::not_published, "the actor named " + name + " here has stopped"};
  }
  if (*it->second.second != type) {
    return failure{errc::interface_mismatch, "the actor named " + name + " is of another type"};
  }
  return it->second.first;
}

result<peer> cluster::peer_of(const std::string& name, std::chrono::milliseconds timeout) {
  if (auto p = node_.find_peer(name)) return *p;
  for (const auto& m : members()) {
    if (m.name == name) return node_.connect(m.host, m.port, timeout);
  }
  return failure{errc::refused, "no member " + name + " is listed"};
}

void cluster::remove(const std::string& name) {
  {
    std::lock_guard lock(local_mx_);
    if (local_names_.erase(name) == 0) return;
  }
  node_.unpublish(name_publication(name));
  boost::asio::post(io_context_of(node_), [n = names_, name] { n->remove(name); });
}

bool cluster::wait_joined(std::chrono::milliseconds timeout) const { return m_->wait_joined(timeout); }
std::vector<member> cluster::members() const { return m_->members(); }
bool cluster::fenced() const noexcept { return m_->fenced(); }
std::uint64_t cluster::epoch() const noexcept { return m_->epoch(); }
void cluster::leave() {
  stop_activations(node_, acts_);
  m_->stop(true);
}
cluster_stats cluster::stats() const noexcept { return m_->stats(); }

void cluster::subscribe_cell(detail::cell_ptr who, std::function<void(const member_up&)> up,
                             std::function<void(const member_down&)> down,
                             std::function<void(const member_left&)> left) {
  m_->subscribe(std::move(who), [up = std::move(up), down = std::move(down),
                                 left = std::move(left)](const cluster_detail::member_event& e) {
    if (const auto* u = std::get_if<member_up>(&e)) return up(*u);
    if (const auto* d = std::get_if<member_down>(&e)) return down(*d);
    left(std::get<member_left>(e));
  });
}

} // namespace troupe
