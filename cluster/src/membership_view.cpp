#include <algorithm>

#include <boost/asio/post.hpp>

#include "membership.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/detail/logger.hpp"

// What the rest of the cluster and its users see of the membership: the
// kinds it publishes, the members hosting one, events and snapshots.

namespace troupe::cluster_detail {

// ---- for the activations and the router ------------------------------------

void membership::add_kind(const std::string& kind) {
  asio::post(io_, [self = shared_from_this(), kind] {
    if (std::find(self->kinds_.begin(), self->kinds_.end(), kind) != self->kinds_.end()) return;
    self->kinds_.push_back(kind);
    self->self_.kinds = self->kinds_;
    // Not registered yet (or registering): the registration publishes it,
    // or republishes once it sees it missed it.
    if (self->registered_ && !self->stopping_) self->republish();
  });
}

void membership::republish() {
  etcd::PutRequest req;
  req.set_key(self_key());
  req.set_value(record(false));
  req.set_lease(lease_);
  store_->put(req, [self = shared_from_this()](const result<etcd::PutResponse>& r) {
    if (!r) self->etcd_trouble("publishing a kind", std::string(r.message()));  // the next join publishes it
  });
}

std::string membership::holder_record() const {
  cluster_records::holder h;
  h.set_node(node_.name());
  h.set_incarnation(node_.incarnation());
  h.set_epoch(epoch());
  return h.SerializeAsString();
}

std::vector<const member*> membership::hosting(const std::string& kind) {
  std::vector<const member*> out;
  auto hosts = [&kind](const member& m) { return std::find(m.kinds.begin(), m.kinds.end(), kind) != m.kinds.end(); };
  if (registered_ && !fenced() && self_.name == node_.name() && hosts(self_)) out.push_back(&self_);
  for (const auto& [name, h] : table_) {
    if (!h.leaving && hosts(h.m)) out.push_back(&h.m);
  }
  return out;
}

const member* membership::find(const std::string& name) {
  if (name == node_.name()) return registered_ ? &self_ : nullptr;
  auto it = table_.find(name);
  return it == table_.end() ? nullptr : &it->second.m;
}

// ---- events ------------------------------------------------------------------

void membership::raise(member_event e) {
  std::lock_guard lock(mx_);
  // The snapshot moves with the events under one lock, so a subscriber
  // sees each member exactly once as up (at subscribe time, or raised).
  std::visit(
      [this](const auto& ev) {
        using E = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<E, member_up>) {
          snapshot_.insert_or_assign(ev.member.name, ev.member);
          n_.up.fetch_add(1, std::memory_order_relaxed);
        } else {
          snapshot_.erase(ev.member.name);
          (std::is_same_v<E, member_down> ? n_.down : n_.left).fetch_add(1, std::memory_order_relaxed);
        }
        detail::logger().info("troupe cluster {}: {} {} (incarnation {:x}, epoch {})", opts_.name, ev.member.name,
                              std::is_same_v<E, member_up> ? "up" : std::is_same_v<E, member_down> ? "down" : "left",
                              ev.member.incarnation, ev.member.epoch);
      },
      e);
  std::erase_if(subscribers_, [](const subscriber& s) { return s.who->box().is_closed(); });
  for (auto& s : subscribers_) s.deliver(e);  // a tell from the I/O thread never blocks
}

void membership::subscribe(detail::cell_ptr who, std::function<void(const member_event&)> deliver) {
  // Under the lock the I/O thread raises events with: a full subscriber
  // takes these over its bound rather than block us (and so the I/O thread).
  detail::never_block_scope never_block;
  std::lock_guard lock(mx_);
  for (const auto& [name, m] : snapshot_) {
    if (name != node_.name()) deliver(member_up{m});
  }
  subscribers_.push_back({std::move(who), std::move(deliver)});
}

// ---- snapshots -------------------------------------------------------------------

bool membership::wait_joined(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mx_);
  return joined_cv_.wait_for(lock, timeout, [this] { return joined_; });
}

std::vector<member> membership::members() const {
  std::vector<member> out;
  {
    std::lock_guard lock(mx_);
    out.reserve(snapshot_.size());
    for (const auto& [name, m] : snapshot_) out.push_back(m);
  }
  std::sort(out.begin(), out.end(), [](const member& a, const member& b) {
    return a.since != b.since ? a.since < b.since : a.name < b.name;
  });
  return out;
}

cluster_stats membership::stats() const noexcept {
  cluster_stats s;
  s.joins = n_.joins.load(std::memory_order_relaxed);
  s.renewals = n_.renewals.load(std::memory_order_relaxed);
  s.renewal_failures = n_.renewal_failures.load(std::memory_order_relaxed);
  s.fenced = n_.fenced.load(std::memory_order_relaxed);
  s.watch_restarts = n_.watch_restarts.load(std::memory_order_relaxed);
  s.members_up = n_.up.load(std::memory_order_relaxed);
  s.members_down = n_.down.load(std::memory_order_relaxed);
  s.members_left = n_.left.load(std::memory_order_relaxed);
  s.dial_failures = n_.dial_failures.load(std::memory_order_relaxed);
  return s;
}

} // namespace troupe::cluster_detail
