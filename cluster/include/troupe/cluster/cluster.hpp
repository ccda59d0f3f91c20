#pragma once
/// @file A cluster: nodes that find each other through etcd. Each member
/// registers itself under a lease (so it vanishes when it dies), reads who
/// else is there, watches for changes, and connects to the others through
/// its node's authenticated links. Subscribers hear `member_up`,
/// `member_down` (its lease expired: it died, or lost etcd) and
/// `member_left` (it left gracefully).
///
/// Fencing: a member that cannot renew its lease for longer than its TTL
/// may have been declared dead by the others, so it stops hosting anything
/// the cluster owns (`fenced()` is true) until it renews, or joins again
/// under a new epoch when etcd dropped its lease. Its node, its links and
/// plain remote traffic go on regardless.

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <typeinfo>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/actor_system.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/cluster/virtual_ref.hpp"
#include "troupe/transport/node.hpp"

namespace troupe {

namespace cluster_detail {
class membership;
class activations;
class router;
class names;
struct activator;
}

/// How a node joins a cluster. Checked by the cluster's constructor.
struct cluster_options {
  /// etcd client endpoints, "host:port" (at least one; tried in turn when
  /// one does not answer).
  std::vector<std::string> etcd;
  /// The cluster's name: its keys live under /troupe/<name>/ in etcd, so
  /// clusters can share one etcd. Letters, digits, '-', '_' and '.'.
  std::string name = "troupe";
  /// The member's lease TTL (whole seconds, at least 1 s): how long after
  /// its death the others learn of it. Renewed every ttl/3.
  std::chrono::milliseconds ttl{3000};
  /// The longest one etcd call may take (at least 10 ms, less than ttl/3).
  std::chrono::milliseconds request_timeout{900};
  /// Where the other members dial this node (its listening port is added);
  /// empty: the node's own listen address when it is not a wildcard,
  /// otherwise refused (say which address the others can reach).
  std::string advertise_host;
  /// The kinds of virtual actor this member hosts (names), published with
  /// its membership.
  std::vector<std::string> kinds;
};

/// How this member hosts a kind of virtual actor (cluster::kind).
struct kind_options {
  /// An activation that received nothing for this long is stopped
  /// (passivated); the next message activates it again. 0: never.
  std::chrono::milliseconds idle_after{std::chrono::minutes(5)};
};

/// One member as etcd lists it.
struct member {
  std::string name;              ///< its node's name
  std::uint64_t incarnation = 0; ///< its node's incarnation (a restarted process is a new one)
  std::uint64_t epoch = 0;       ///< its membership: one more each time it joined again after losing its lease
  std::string host;              ///< where it is dialled
  std::uint16_t port = 0;
  std::vector<std::string> kinds;
  std::int64_t since = 0;        ///< the etcd revision at which it joined: lower is older
};

/// A member joined (or this subscriber just subscribed and it was there).
struct member_up {
  troupe::member member;
};
/// A member's lease expired: it died, hung, or lost etcd for longer than its TTL.
struct member_down {
  troupe::member member;
};
/// A member left gracefully (its lease revoked by cluster::leave or its destructor).
struct member_left {
  troupe::member member;
};

/// Counters of one member (a snapshot).
struct cluster_stats {
  std::uint64_t joins = 0;            ///< times it registered (1, plus once per rejoin under a new epoch)
  std::uint64_t renewals = 0;         ///< lease keep-alives that etcd answered
  std::uint64_t renewal_failures = 0; ///< lease keep-alives that failed (etcd unreachable, slow, or errors)
  std::uint64_t fenced = 0;           ///< times it fenced itself (no renewal for longer than the TTL, or the lease lost)
  std::uint64_t watch_restarts = 0;   ///< watches of the member list opened again (etcd restarted, switched endpoint)
  std::uint64_t members_up = 0;       ///< member_up events raised
  std::uint64_t members_down = 0;     ///< member_down events raised
  std::uint64_t members_left = 0;     ///< member_left events raised
  std::uint64_t dial_failures = 0;    ///< connections to members that failed (retried while the member is listed)
};

/// This node's membership of a cluster. Create it after the node and
/// destroy it before (the destructor leaves gracefully). @threadsafe
class cluster {
 public:
  /// Starts joining (asynchronously: etcd may be down now; the member
  /// keeps trying and joins when it can).
  /// @throws std::invalid_argument for a bad option (naming it).
  cluster(actor_system& sys, node& n, cluster_options opts);
  /// Leaves (see leave()) and stops.
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Waits until this member is registered and has read the member list
  /// (true), or `timeout` passed (false).
  [[nodiscard]] bool wait_joined(std::chrono::milliseconds timeout) const;
  /// The members etcd lists now, this one included (when joined), oldest first.
  [[nodiscard]] std::vector<member> members() const;
  /// True while this member may have been declared dead (see the file's
  /// comment): it must not host what the cluster owns.
  [[nodiscard]] bool fenced() const noexcept;
  /// This member's epoch (0 until it joined).
  [[nodiscard]] std::uint64_t epoch() const noexcept;

  /// Tells `to` member_up for every member listed now (itself excluded),
  /// then every member_up, member_down and member_left, in the order etcd
  /// saw them, until it stops.
  template <class A>
  void subscribe(const actor_ref<A>& to) {
    static_assert(handles<A, member_up> && handles<A, member_down> && handles<A, member_left>,
                  "troupe: a cluster subscriber needs handlers on(troupe::member_up), on(troupe::member_down) "
                  "and on(troupe::member_left)");
    if (!to) throw std::invalid_argument("troupe::cluster::subscribe: an empty actor_ref");
    subscribe_cell(detail::cell_ptr(to.cell()), [to](const member_up& e) { to.tell(e); },
                   [to](const member_down& e) { to.tell(e); }, [to](const member_left& e) { to.tell(e); });
  }

  /// Hosts virtual actors of kind `name` on this member: when one of its
  /// identities is placed here, an A is spawned with the identity
  /// (`A(std::string identity)`, or `A()` when A has no such constructor).
  /// A declares the messages other members may send it
  /// (`using remote_interface = troupe::accepts<...>`). Call on every member
  /// that should host the kind; members that only send need get().
  template <class A>
  void kind(const std::string& name, kind_options o = {}) {
    add_kind(name, o, [&sys = sys_, &n = node_](const std::string& identity) {
      actor_ref<A> ref;
      if constexpr (std::is_constructible_v<A, std::string>) {
        ref = sys.spawn<A>(identity);
      } else {
        ref = sys.spawn<A>();
      }
      n.expose(ref);
      return detail::cell_ptr(ref.cell());
    }, resolver<A>());
  }

  /// A handle to `identity` of `kind`, valid before the actor exists: the
  /// first message activates it on the member that owns it (rendezvous
  /// hashing over the members hosting the kind), at most one activation
  /// in the cluster at any time. Messages wait on this member while the
  /// activation is being found, at most `max_held` per identity (past that
  /// `tell` says `full`). See virtual_ref.hpp. @threadsafe
  template <class A>
  [[nodiscard]] virtual_ref<A> get(const std::string& kind, const std::string& identity,
                                   std::size_t max_held = 1024) {
    return virtual_ref<A>(slot(kind, identity, max_held, resolver<A>()));
  }

  /// The singleton `name`: exactly one A in the cluster, on the oldest
  /// member that declared it (this one is a candidate from now on); moved
  /// to the next oldest when that member dies, leaves or fences itself.
  template <class A>
  [[nodiscard]] virtual_ref<A> singleton(const std::string& name) {
    const std::string k = "singleton." + name;
    mark_singleton(k);
    kind<A>(k, kind_options{.idle_after = std::chrono::milliseconds(0)});
    return get<A>(k, "");
  }

  /// Gives `ref` the cluster-wide `name`: any member's get<A>(name) finds
  /// it. The name is held under this member's lease, so it goes when this
  /// member dies or leaves (and is written again if it joins anew).
  /// `done` runs once, on the node's I/O thread (keep it short, never block
  /// in it): true, or errc::name_taken (another member holds it; the
  /// message names it), errc::refused (not joined, or fenced),
  /// ask_error::timeout, errc::io_error (etcd unreachable). @threadsafe
  template <class A>
  void put_then(const std::string& name, const actor_ref<A>& ref, std::function<void(result<bool>)> done) {
    if (!ref) throw std::invalid_argument("troupe::cluster::put: an empty actor_ref");
    node_.publish(name_publication(name), ref);
    put_name_then(name, detail::cell_ptr(ref.cell()), typeid(A), std::move(done));
  }
  /// put_then, waiting up to `timeout` for the outcome (outside handlers).
  template <class A>
  result<bool> put(const std::string& name, const actor_ref<A>& ref,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto p = std::make_shared<std::promise<result<bool>>>();
    auto f = p->get_future();
    put_then(name, ref, [p](result<bool> r) { p->set_value(std::move(r)); });
    return waited(f, timeout);
  }
  /// The actor holding the cluster-wide `name`, as a handle of type A (its
  /// type, or an interface it satisfies when it is on another member), to
  /// `done`, once, on a transport thread (or this one when it fails at
  /// once): errc::not_published (nobody holds it, or its actor stopped),
  /// errc::interface_mismatch, ask_error::timeout, errc::io_error. @threadsafe
  template <class A>
  void get_then(const std::string& name, std::chrono::milliseconds timeout,
                std::function<void(result<actor_ref<A>>)> done) {
    holder_then(name, timeout, typeid(A), [name, timeout, done](result<std::pair<detail::cell_ptr, peer>> where) mutable {
      if (!where) return done(failure{where.error(), std::string(where.message())});
      if (where->first) return done(actor_ref<A>::from_cell(where->first.get()));  // held here
      where->second.lookup_then<A>(name_publication(name), timeout, std::move(done));
    });
  }
  /// get_then, waiting up to `timeout` for the outcome (outside handlers).
  template <class A>
  result<actor_ref<A>> get(const std::string& name, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto p = std::make_shared<std::promise<result<actor_ref<A>>>>();
    auto f = p->get_future();
    get_then<A>(name, timeout, [p](result<actor_ref<A>> r) { p->set_value(std::move(r)); });
    return waited(f, timeout + std::chrono::seconds(1));
  }
  /// Gives up the cluster-wide `name` if this member holds it.
  void remove(const std::string& name);

  /// Activations hosted here now (virtual actors and singletons).
  [[nodiscard]] std::size_t active() const;

  /// Leaves gracefully: marks the membership as leaving, then revokes the
  /// lease, so the others see member_left at once. Blocks up to
  /// request_timeout for each of those two calls; a second call does nothing.
  void leave();

  [[nodiscard]] cluster_stats stats() const noexcept;

 private:
  static std::string name_publication(const std::string& name) { return "troupe.cluster.name/" + name; }
  template <class T>
  static result<T> waited(std::future<result<T>>& f, std::chrono::milliseconds timeout) {
    if (f.wait_for(timeout) != std::future_status::ready) return failure{ask_error::timeout, "no answer in time"};
    return f.get();
  }
  void put_name_then(const std::string& name, detail::cell_ptr cell, const std::type_info& type,
                     std::function<void(result<bool>)> done);
  /// Where `name` is held: the local actor (when held here, checked to be
  /// of `type`), or the link to the member holding it (connected if need be).
  void holder_then(const std::string& name, std::chrono::milliseconds timeout, const std::type_info& type,
                   std::function<void(result<std::pair<detail::cell_ptr, peer>>)> done);
  template <class A>
  static cluster_detail::resolve_fn resolver() {
    return [](const peer& p, std::uint64_t id) { return detail::cell_ptr(p.resolve<A>(id).cell()); };
  }
  void add_kind(const std::string& name, kind_options o,
                std::function<detail::cell_ptr(const std::string& identity)> make, cluster_detail::resolve_fn resolve);
  void mark_singleton(const std::string& kind);
  std::shared_ptr<cluster_detail::identity_slot> slot(const std::string& kind, const std::string& identity,
                                                      std::size_t max_held, cluster_detail::resolve_fn resolve);
  void subscribe_cell(detail::cell_ptr who, std::function<void(const member_up&)> up,
                      std::function<void(const member_down&)> down, std::function<void(const member_left&)> left);
  actor_system& sys_;
  node& node_;
  std::uint64_t metrics_source_ = 0;  // troupe_cluster_members in sys_'s metrics
  std::shared_ptr<cluster_detail::membership> m_;
  std::shared_ptr<cluster_detail::activations> acts_;
  std::shared_ptr<cluster_detail::router> router_;
  std::shared_ptr<cluster_detail::names> names_;
  /// The names held here (shared with callbacks that may outlive a call).
  struct local_names {
    std::mutex mx;
    std::map<std::string, std::pair<detail::cell_ptr, const std::type_info*>> held;
  };
  std::shared_ptr<local_names> locals_ = std::make_shared<local_names>();
  actor_ref<cluster_detail::activator> activator_;
};

} // namespace troupe
