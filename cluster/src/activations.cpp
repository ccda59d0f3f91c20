#include "activations.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/detail/logger.hpp"
#include "troupe/transport/node_io.hpp"

namespace troupe::cluster_detail {

namespace {
constexpr std::chrono::milliseconds min_sweep{50};

void stop_cell(const detail::cell_ptr& c) { c->enqueue_system(detail::make_stop_envelope(exit_reason::stopped)); }
} // namespace

activations::activations(node& n, std::shared_ptr<membership> m, std::chrono::milliseconds request_timeout)
    : node_(n), m_(std::move(m)), timeout_(request_timeout), sweep_timer_(io_context_of(n)) {}

void activations::add_kind(const std::string& kind, factory_fn make, resolve_fn resolve, kind_options o) {
  std::lock_guard lock(mx_);
  kinds_.insert_or_assign(kind, kind_entry{std::move(make), std::move(resolve), o});
}

resolve_fn activations::resolver_of(const std::string& kind) const {
  std::lock_guard lock(mx_);
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? resolve_fn() : it->second.resolve;
}

bool activations::hosts(const std::string& kind) const {
  std::lock_guard lock(mx_);
  return kinds_.contains(kind);
}

std::size_t activations::active() const {
  std::lock_guard lock(mx_);
  return active_;
}

std::string activations::activation_key(const key& k) const {
  return m_->key_prefix() + "activations/" + k.first + "/" + k.second;
}

void activations::activate(const std::string& kind, const std::string& identity, done_fn done) {
  const key k{kind, identity};
  if (stopping_) return done({{}, {}, "the member is leaving"});
  if (auto it = table_.find(k); it != table_.end()) {
    if (!it->second.cell->box().is_closed()) return done({it->second.cell, {}, {}});
    table_.erase(it);  // it stopped by itself: its key is still ours, reclaimed below
  }
  if (!hosts(kind)) return done({{}, {}, "member " + node_.name() + " does not host kind " + kind});
  if (m_->fenced()) return done({{}, {}, "member " + node_.name() + " is fenced (it cannot renew its lease)"});
  auto& waiting = in_flight_[k];
  waiting.push_back(std::move(done));
  if (waiting.size() == 1) attempt(k, 0);  // one transaction per identity at a time
}

void activations::attempt(const key& k, std::int64_t reclaim) {
  // Create-if-absent under our lease (or, reclaiming a key an earlier
  // activation here left, rewrite it if it is still that one); otherwise
  // read who holds it. Either way one round trip to etcd.
  etcd::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key(activation_key(k));
  if (reclaim == 0) {
    cmp->set_target(etcd::Compare::CREATE);
    cmp->set_create_revision(0);
  } else {
    cmp->set_target(etcd::Compare::MOD);
    cmp->set_mod_revision(reclaim);
  }
  cmp->set_result(etcd::Compare::EQUAL);
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(activation_key(k));
  put->set_value(m_->holder_record());
  put->set_lease(m_->lease());
  txn.add_failure()->mutable_request_range()->set_key(activation_key(k));
  m_->store().txn(txn, [self = shared_from_this(), k](result<etcd::TxnResponse> r) {
    if (self->stopping_) return self->finish(k, {{}, {}, "the member is leaving"});
    if (!r) return self->finish(k, {{}, {}, std::string(r.message())});
    self->created(k, *r);
  });
}

void activations::created(const key& k, const etcd::TxnResponse& r) {
  // The put's revision is the key's mod revision: a passivation deletes
  // the key only while it is still that one.
  if (r.succeeded()) return start_here(k, r.header().revision());
  const auto& rs = r.responses();
  if (rs.empty() || rs[0].response_range().kvs().empty()) {
    return attempt(k, 0);  // it went meanwhile (its holder died, or passivated it): create it
  }
  const auto& kv = rs[0].response_range().kvs(0);
  cluster_records::holder holder;
  if (!holder.ParseFromString(kv.value())) {
    return finish(k, {{}, {}, "the activation record under " + activation_key(k) + " is not one"});
  }
  if (m_->is_this_node(holder) && holder.epoch() == m_->epoch()) {
    return attempt(k, kv.mod_revision());  // left by an earlier activation here: reclaim it
  }
  finish(k, {{}, holder.node(), {}});
}

void activations::start_here(const key& k, std::int64_t revision) {
  if (m_->fenced()) return finish(k, {{}, {}, "member " + node_.name() + " fenced while activating"});
  factory_fn make;
  std::chrono::milliseconds idle{0};
  {
    std::lock_guard lock(mx_);
    auto it = kinds_.find(k.first);
    if (it == kinds_.end()) return finish(k, {{}, {}, "kind " + k.first + " is no longer hosted here"});
    make = it->second.make;
    idle = it->second.opts.idle_after;
  }
  detail::cell_ptr c;
  try {
    c = make(k.second);
  } catch (const std::exception& e) {
    return finish(k, {{}, {}, "the actor for " + k.first + "/" + k.second + " threw in its constructor: " + e.what()});
  }
  table_.insert_or_assign(k, activation{c, c->box().pushes(), std::chrono::milliseconds(0), revision});
  {
    std::lock_guard lock(mx_);
    active_ = table_.size();
  }
  if (idle.count() > 0) {
    const auto every = std::max(min_sweep, idle / 2);
    if (sweep_every_.count() == 0 || every < sweep_every_) {
      sweep_every_ = every;
      arm_sweep();
    }
  }
  finish(k, {c, {}, {}});
}

void activations::finish(const key& k, const activation_outcome& o) {
  auto it = in_flight_.find(k);
  if (it == in_flight_.end()) return;
  auto waiting = std::move(it->second);
  in_flight_.erase(it);
  for (auto& d : waiting) d(o);
}

void activations::arm_sweep() {
  sweep_timer_.expires_after(sweep_every_);
  sweep_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->stopping_) return;
    self->sweep();
    self->arm_sweep();
  });
}

void activations::sweep() {
  std::vector<key> idle;
  for (auto& [k, a] : table_) {
    std::chrono::milliseconds limit{0};
    {
      std::lock_guard lock(mx_);
      if (auto it = kinds_.find(k.first); it != kinds_.end()) limit = it->second.opts.idle_after;
    }
    const std::uint32_t now = a.cell->box().pushes();
    if (now != a.pushes || a.cell->box().depth() != 0) {
      a.pushes = now;
      a.idle = std::chrono::milliseconds(0);
      continue;
    }
    a.idle += sweep_every_;
    if (a.cell->box().is_closed() || (limit.count() > 0 && a.idle >= limit)) idle.push_back(k);
  }
  for (const auto& k : idle) passivate(k);
}

void activations::passivate(const key& k) {
  auto it = table_.find(k);
  if (it == table_.end()) return;
  const std::int64_t revision = it->second.revision;
  // Stopped first, the key deleted after: never two activations at once.
  // A message arriving meanwhile finds the actor stopped (its sender finds
  // the identity again); one that got into the mailbox before the stop is
  // handed over to the identity's next activation instead of being lost.
  if (leftover_) {
    it->second.cell->enqueue_system(detail::make_handover_stop_envelope(
        [f = leftover_, k](detail::envelope* e) { return f(k.first, k.second, e); }));
  } else {
    stop_cell(it->second.cell);
  }
  table_.erase(it);
  {
    std::lock_guard lock(mx_);
    active_ = table_.size();
  }
  passivated_.fetch_add(1, std::memory_order_relaxed);
  // Deleted only while it is the key this activation wrote: if the
  // identity was activated here again meanwhile, that rewrote it.
  etcd::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key(activation_key(k));
  cmp->set_target(etcd::Compare::MOD);
  cmp->set_result(etcd::Compare::EQUAL);
  cmp->set_mod_revision(revision);
  txn.add_success()->mutable_request_delete_range()->set_key(activation_key(k));
  m_->store().txn(txn, [](const result<etcd::TxnResponse>&) {
    // Not deleted (etcd unreachable): the key stays until our lease goes,
    // and activating the identity here again reclaims it.
  });
}

void activations::deactivate_all(const char* why) {
  if (table_.empty()) return;
  detail::logger().warn("troupe cluster: {} stops its {} activations ({})", node_.name(), table_.size(), why);
  for (auto& [k, a] : table_) stop_cell(a.cell);
  table_.clear();
  std::lock_guard lock(mx_);
  active_ = 0;
}

void activations::stop() {
  stopping_ = true;
  sweep_timer_.cancel();
  for (auto& [k, a] : table_) stop_cell(a.cell);
  table_.clear();
  auto pending = std::move(in_flight_);
  in_flight_.clear();
  for (auto& [k, waiting] : pending) {
    for (auto& d : waiting) d({{}, {}, "the member is leaving"});
  }
  std::lock_guard lock(mx_);
  active_ = 0;
}

} // namespace troupe::cluster_detail
