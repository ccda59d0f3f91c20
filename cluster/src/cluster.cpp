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
  metrics_source_ = sys.add_metrics_source([m = std::weak_ptr<cluster_detail::membership>(m_), me = n.name()](metrics_writer& w) {
    if (auto p = m.lock()) {
      w.gauge("troupe_cluster_members", "Members this node sees in its cluster (itself included)",
              static_cast<double>(p->members().size()), {{"node", me}});
    }
  });
  m_->start();
}

cluster::~cluster() {
  sys_.remove_metrics_source(metrics_source_);
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
  if (!m_->store().supports_ownership()) {
    throw std::logic_error("troupe::cluster::kind: this cluster's provider keeps membership only; virtual actors "
                           "and singletons need one that can own keys (etcd)");
  }
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

void cluster::put_name_then(const std::string& name, detail::cell_ptr cell, const std::type_info& type,
                            std::function<void(result<bool>)> done) {
  if (name.empty()) throw std::invalid_argument("troupe::cluster::put: an empty name");
  if (!m_->store().supports_ownership()) {
    node_.unpublish(name_publication(name));
    return done(failure{errc::refused, "this cluster's provider keeps membership only: names need one that can own keys"});
  }
  {
    std::lock_guard lock(locals_->mx);
    locals_->held.insert_or_assign(name, std::make_pair(cell, &type));
  }
  // Callbacks hold what they use (never `this`): they may run after the
  // cluster is gone, failed by its etcd client closing.
  boost::asio::post(io_context_of(node_), [n = names_, locals = locals_, &node = node_, name, done = std::move(done)]() mutable {
    n->put(name, [locals, &node, name, done = std::move(done)](result<bool> r) {
      if (!r) {
        {
          std::lock_guard lock(locals->mx);
          locals->held.erase(name);
        }
        node.unpublish(name_publication(name));
      }
      done(std::move(r));
    });
  });
}

void cluster::holder_then(const std::string& name, std::chrono::milliseconds timeout, const std::type_info& type,
                          std::function<void(result<std::pair<detail::cell_ptr, peer>>)> done) {
  using where = std::pair<detail::cell_ptr, peer>;
  boost::asio::post(io_context_of(node_), [n = names_, m = m_, locals = locals_, &node = node_, name, timeout, &type,
                                           done = std::move(done)]() mutable {
    n->holder(name, [m, locals, &node, name, timeout, &type, done = std::move(done)](result<std::string> holder) mutable {
      if (!holder) return done(failure{holder.error(), std::string(holder.message())});
      if (*holder == node.name()) {
        std::lock_guard lock(locals->mx);
        auto it = locals->held.find(name);
        if (it == locals->held.end() || it->second.first->box().is_closed()) {
          return done(failure{errc::not_published, "the actor named " + name + " here has stopped"});
        }
        if (*it->second.second != type) {
          return done(failure{errc::interface_mismatch, "the actor named " + name + " is of another type"});
        }
        return done(where{it->second.first, peer()});
      }
      if (auto p = node.find_peer(*holder)) return done(where{detail::cell_ptr(), *p});
      if (const member* h = m->find(*holder)) {
        return node.connect_then(h->host, h->port, timeout, [done = std::move(done)](result<peer> p) mutable {
          if (!p) return done(failure{p.error(), std::string(p.message())});
          done(where{detail::cell_ptr(), *p});
        });
      }
      done(failure{errc::refused, "the holder of " + name + ", member " + *holder + ", is not listed"});
    });
  });
}

void cluster::remove(const std::string& name) {
  {
    std::lock_guard lock(locals_->mx);
    if (locals_->held.erase(name) == 0) return;
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
