#include "membership.hpp"

#include <algorithm>
#include <future>

#include <boost/asio/post.hpp>

#include "troupe/detail/logger.hpp"
#include "troupe/transport/node_io.hpp"

namespace troupe::cluster_detail {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Waits between attempts to reach etcd while it does not answer.
constexpr milliseconds retry_delay{250};
/// Waits before dialling a listed member again after a failed connect.
constexpr milliseconds redial_delay{1000};

bool same_life(const member& a, const member& b) { return a.incarnation == b.incarnation && a.epoch == b.epoch; }

} // namespace

std::string members_prefix(const std::string& cluster) { return "/troupe/" + cluster + "/members/"; }

member member_of(const cluster_records::member& r, std::int64_t since) {
  member m;
  m.name = r.name();
  m.incarnation = r.incarnation();
  m.epoch = r.epoch();
  m.host = r.host();
  m.port = static_cast<std::uint16_t>(r.port());
  m.kinds.assign(r.kinds().begin(), r.kinds().end());
  m.since = since;
  return m;
}

membership::membership(node& n, cluster_options opts, std::vector<endpoint> etcd, std::string advertise_host)
    : node_(n),
      io_(io_context_of(n)),
      opts_(std::move(opts)),
      advertise_(std::move(advertise_host)),
      cluster_prefix_("/troupe/" + opts_.name + "/"),
      prefix_(members_prefix(opts_.name)),
      store_(std::make_unique<etcd_client>(io_, std::move(etcd), opts_.request_timeout)),
      renew_timer_(io_),
      retry_timer_(io_),
      fence_timer_(io_),
      kinds_(opts_.kinds) {}

void membership::start() {
  asio::post(io_, [self = shared_from_this()] { self->join(); });
}

// ---- joining ---------------------------------------------------------------

void membership::join() {
  if (stopping_) return;
  registered_ = false;
  const auto ttl_s = std::chrono::duration_cast<std::chrono::seconds>(opts_.ttl).count();
  store_->grant(ttl_s, [self = shared_from_this()](result<etcd::LeaseGrantResponse> r) {
    if (self->stopping_) return;
    if (!r || r->ttl() <= 0 || r->id() == 0) {
      self->etcd_trouble("granting a lease", r ? "no lease granted: " + r->error() : std::string(r.message()));
      return self->retry(retry_delay, &membership::join);
    }
    self->lease_ = r->id();
    self->register_self();
  });
}

std::string membership::record(bool leaving) const {
  cluster_records::member r;
  r.set_name(node_.name());
  r.set_incarnation(node_.incarnation());
  r.set_epoch(epoch_.load(std::memory_order_relaxed) + (registered_ ? 0 : 1));
  r.set_host(advertise_);
  r.set_port(node_.port());
  for (const auto& k : kinds_) r.add_kinds(k);
  written_kinds_ = kinds_.size();
  r.set_leaving(leaving);
  return r.SerializeAsString();
}

void membership::register_self() {
  etcd::PutRequest req;
  req.set_key(self_key());
  req.set_value(record(false));
  req.set_lease(lease_);
  const auto sent = clock::now();
  store_->put(req, [self = shared_from_this(), lease = lease_, sent](result<etcd::PutResponse> r) {
    if (self->stopping_ || lease != self->lease_) return;
    if (!r) {
      // The lease may have expired meanwhile: a new one, after a pause.
      self->etcd_trouble("registering", std::string(r.message()));
      return self->retry(retry_delay, &membership::join);
    }
    self->etcd_fine();
    self->registered_ = true;
    self->epoch_.fetch_add(1, std::memory_order_acq_rel);
    if (self->n_.joins.fetch_add(1, std::memory_order_relaxed) > 0 && self->on_rejoined_) self->on_rejoined_();
    self->renewed(sent);
    self->arm_renew(self->opts_.ttl / 3);
    if (self->written_kinds_ != self->kinds_.size()) self->republish();  // a kind added while registering
    detail::logger().info("troupe cluster {}: {} joined (epoch {}, lease {:x}, etcd {})", self->opts_.name,
                          self->node_.name(), self->epoch(), lease, self->store_->where());
    self->list();
  });
}

// ---- the member list -------------------------------------------------------

void membership::list() {
  if (stopping_) return;
  etcd::RangeRequest req;
  req.set_key(prefix_);
  req.set_range_end(prefix_end(prefix_));
  store_->range(req, [self = shared_from_this()](result<etcd::RangeResponse> r) {
    if (self->stopping_) return;
    if (!r) {
      self->etcd_trouble("listing the members", std::string(r.message()));
      return self->retry(retry_delay, &membership::list);
    }
    self->etcd_fine();
    self->listed(*r);
  });
}

void membership::listed(const etcd::RangeResponse& r) {
  std::map<std::string, held> now;
  for (const auto& kv : r.kvs()) {
    if (auto h = decode(kv)) now.insert_or_assign(h->m.name, std::move(*h));
  }
  // What changed while no watch ran: members gone, then members new (or
  // back as another life).
  for (auto it = table_.begin(); it != table_.end();) {
    auto n = now.find(it->first);
    if (it->first != node_.name() && (n == now.end() || !same_life(n->second.m, it->second.m))) {
      raise_gone(it->second);
      it = table_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [name, h] : now) {
    if (name == node_.name()) continue;
    auto it = table_.find(name);
    if (it == table_.end()) {
      arrived(h);
    } else {
      it->second = h;
      std::lock_guard lock(mx_);
      if (auto s = snapshot_.find(name); s != snapshot_.end()) s->second = h.m;
    }
  }
  auto me = now.find(node_.name());
  if (registered_ && (me == now.end() || !is_self(me->second.m))) {
    return lost_lease("our member key is gone from etcd");
  }
  if (me != now.end()) set_self(me->second);
  {
    std::lock_guard lock(mx_);
    joined_ = registered_;
  }
  joined_cv_.notify_all();
  watch(r.header().revision() + 1);
}

std::optional<membership::held> membership::decode(const etcd::KeyValue& kv) const {
  cluster_records::member rec;
  const std::string_view key = kv.key();
  if (!key.starts_with(prefix_) || !rec.ParseFromString(kv.value()) || rec.name() != key.substr(prefix_.size()) ||
      rec.port() == 0 || rec.port() > 65535) {
    detail::logger().warn("troupe cluster {}: the record under {} is not a member's: ignored", opts_.name, key);
    return std::nullopt;
  }
  return held{member_of(rec, kv.create_revision()), rec.leaving()};
}

bool membership::is_self(const member& m) const {
  return m.incarnation == node_.incarnation() && m.epoch == epoch_.load(std::memory_order_acquire);
}

void membership::watch(std::int64_t from) {
  if (watch_) watch_->close();
  etcd::WatchCreateRequest req;
  req.set_key(prefix_);
  req.set_range_end(prefix_end(prefix_));
  req.set_start_revision(from);
  req.set_prev_kv(true);
  auto self = shared_from_this();
  watch_ = store_->watch(
      req, [self](const etcd::WatchResponse& w) { self->on_watch(w); },
      [self](const std::string& why) { self->watch_ended(why); });
}

void membership::on_watch(const etcd::WatchResponse& w) {
  if (stopping_) return;
  if (w.canceled() || w.compact_revision() != 0) {
    return watch_ended("the watch was cancelled: " + (w.cancel_reason().empty() ? "compacted" : w.cancel_reason()));
  }
  for (const auto& ev : w.events()) {
    if (ev.type() == etcd::Event::DELETE) {
      const std::string_view key = ev.kv().key();
      if (!key.starts_with(prefix_)) continue;
      const std::string name(key.substr(prefix_.size()));
      // Our key deleted: ours only if the record deleted was this life (a
      // watch from before a rejoin reports the old life's key going).
      if (name == node_.name() && ev.has_prev_kv()) {
        auto was = decode(ev.prev_kv());
        if (!was || !is_self(was->m)) continue;
      }
      gone(name);
    } else if (auto h = decode(ev.kv())) {
      changed(std::move(*h));
    }
  }
}

void membership::watch_ended(const std::string& why) {
  if (stopping_) return;
  watch_.reset();
  n_.watch_restarts.fetch_add(1, std::memory_order_relaxed);
  etcd_trouble("watching the members", why);
  retry(retry_delay, &membership::list);
}

void membership::changed(held h) {
  const std::string name = h.m.name;
  if (name == node_.name()) {
    if (is_self(h.m)) return set_self(h);
    if (h.m.incarnation != node_.incarnation()) {
      detail::logger().error("troupe cluster {}: another node (incarnation {:x}) registered under this node's name {}",
                             opts_.name, h.m.incarnation, name);
    }
    return;
  }
  auto it = table_.find(name);
  if (it != table_.end() && same_life(it->second.m, h.m)) {
    // The same life rewrote its record: a kind added, or marked leaving
    // (its DELETE follows). Not an event.
    it->second = h;
    std::lock_guard lock(mx_);
    if (auto s = snapshot_.find(name); s != snapshot_.end()) s->second = h.m;
    return;
  }
  if (it != table_.end()) {
    // The same name, another life: the one before is gone.
    raise_gone(it->second);
    table_.erase(it);
  }
  arrived(h);
}

void membership::gone(const std::string& name) {
  if (name == node_.name()) {
    if (registered_) lost_lease("our member key was deleted");
    return;
  }
  auto it = table_.find(name);
  if (it == table_.end()) return;
  raise_gone(it->second);
  table_.erase(it);
}

void membership::arrived(const held& h) {
  table_.insert_or_assign(h.m.name, h);
  raise(member_up{h.m});
  dial(h.m);
}

void membership::raise_gone(const held& h) {
  if (h.leaving) {
    raise(member_left{h.m});
  } else {
    raise(member_down{h.m});
  }
}

void membership::set_self(const held& h) {
  since_ = h.m.since;
  self_ = h.m;
  std::lock_guard lock(mx_);
  snapshot_.insert_or_assign(h.m.name, h.m);
}

// ---- staying a member ----------------------------------------------------------

void membership::arm_renew(milliseconds delay) {
  renew_timer_.expires_after(delay);
  renew_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec && !self->stopping_) self->renew();
  });
}

void membership::renew() {
  if (!registered_) return arm_renew(opts_.ttl / 3);
  const auto sent = clock::now();
  store_->keep_alive(lease_, [self = shared_from_this(), lease = lease_, sent](result<etcd::LeaseKeepAliveResponse> r) {
    if (self->stopping_ || lease != self->lease_) return;
    if (!r) {
      self->n_.renewal_failures.fetch_add(1, std::memory_order_relaxed);
      self->etcd_trouble("renewing the lease", std::string(r.message()));
      return self->arm_renew(self->opts_.ttl / 10);  // try again soon: the fence timer runs meanwhile
    }
    if (r->ttl() <= 0) return self->lost_lease("etcd no longer has our lease");
    self->n_.renewals.fetch_add(1, std::memory_order_relaxed);
    self->etcd_fine();
    self->renewed(sent);
    self->arm_renew(self->opts_.ttl / 3);
    if (self->written_kinds_ != self->kinds_.size()) self->republish();  // a kind added while registering
  });
}

void membership::renewed(clock::time_point sent) {
  // etcd counts the TTL from when it renewed, which is after `sent`: fence
  // a tenth of the TTL before the earliest moment the others may see the
  // lease expire.
  fence_timer_.expires_at(sent + opts_.ttl - opts_.ttl / 10);
  fence_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec && !self->stopping_) self->fence("no lease renewal for the TTL");
  });
  if (fenced_.exchange(false, std::memory_order_acq_rel) && n_.fenced.load(std::memory_order_relaxed) > 0) {
    detail::logger().info("troupe cluster {}: {} holds its lease again: hosting resumes", opts_.name, node_.name());
  }
}

void membership::fence(const std::string& why) {
  if (fenced_.load(std::memory_order_acquire)) return;
  // What it hosts stops first, then the flag shows (both on the I/O
  // thread, where activations start: none can slip in between).
  if (on_fence_) on_fence_("fenced");
  fenced_.store(true, std::memory_order_release);
  n_.fenced.fetch_add(1, std::memory_order_relaxed);
  detail::logger().warn("troupe cluster {}: {} fenced ({}): it hosts nothing the cluster owns until it renews",
                        opts_.name, node_.name(), why);
}

void membership::lost_lease(const std::string& why) {
  fence(why);
  if (on_fence_) on_fence_("lease lost");  // fenced already (no renewal) or not: nothing it hosted may stay
  registered_ = false;
  lease_ = 0;
  fence_timer_.cancel();
  {
    std::lock_guard lock(mx_);
    snapshot_.erase(node_.name());
  }
  detail::logger().warn("troupe cluster {}: {} lost its membership ({}): joining again", opts_.name, node_.name(), why);
  retry(milliseconds(0), &membership::join);
}

void membership::retry(milliseconds delay, void (membership::*f)()) {
  // A pending join covers a list (joining lists), not the other way round.
  if (pending_ == &membership::join && f == &membership::list) return;
  pending_ = f;
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([self = shared_from_this(), f](const error_code& ec) {
    if (ec || self->stopping_) return;
    self->pending_ = nullptr;
    ((*self).*f)();
  });
}

void membership::etcd_trouble(const std::string& what, const std::string& why) {
  if (trouble_) return;
  trouble_ = true;
  detail::logger().warn("troupe cluster {}: {}: {} (retrying; logged again once it works)", opts_.name, what, why);
}

void membership::etcd_fine() {
  if (!trouble_) return;
  trouble_ = false;
  detail::logger().info("troupe cluster {}: etcd answers again ({})", opts_.name, store_->where());
}

// ---- links to the members ------------------------------------------------------

void membership::dial(const member& m) {
  // One side dials: the member whose name sorts first.
  if (stopping_ || !(node_.name() < m.name) || node_.find_peer(m.name)) return;
  node_.connect_then(m.host, m.port, std::chrono::seconds(5), [self = shared_from_this(), m](result<peer> r) {
    if (r) return;
    asio::post(self->io_, [self, m, why = std::string(r.message())] {
      auto it = self->table_.find(m.name);
      if (self->stopping_ || it == self->table_.end() || !same_life(it->second.m, m)) return;
      self->n_.dial_failures.fetch_add(1, std::memory_order_relaxed);
      detail::logger().warn("troupe cluster {}: cannot connect to member {} at {}:{}: {} (retrying)", self->opts_.name,
                            m.name, m.host, m.port, why);
      auto t = std::make_shared<asio::steady_timer>(self->io_, redial_delay);
      t->async_wait([self, m, t](const error_code& ec) {
        if (!ec) self->redial(m);
      });
    });
  });
}

void membership::redial(const member& m) {
  auto it = table_.find(m.name);
  if (it != table_.end() && same_life(it->second.m, m)) dial(m);
}

// ---- leaving ---------------------------------------------------------------------

void membership::stop(bool leave) {
  if (stopped_.exchange(true)) return;
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  asio::post(io_, [self = shared_from_this(), leave, done] {
    self->stopping_ = true;
    self->renew_timer_.cancel();
    self->retry_timer_.cancel();
    self->fence_timer_.cancel();
    if (self->watch_) self->watch_->close();
    self->watch_.reset();
    auto finish = [self, done] {
      self->store_->close();
      self->fenced_.store(true, std::memory_order_release);
      done->set_value();
    };
    if (!leave || !self->registered_) return finish();
    // Marked leaving first, so the others tell member_left from a death.
    etcd::PutRequest req;
    req.set_key(self->self_key());
    req.set_value(self->record(true));
    req.set_lease(self->lease_);
    self->store_->put(req, [self, finish](const result<etcd::PutResponse>&) {
      self->store_->revoke(self->lease_, [self, finish](const result<etcd::LeaseRevokeResponse>& r) {
        if (r) {
          detail::logger().info("troupe cluster {}: {} left", self->opts_.name, self->node_.name());
        } else {
          detail::logger().warn("troupe cluster {}: {} left without revoking its lease ({}): the others see it down "
                                "when the lease expires",
                                self->opts_.name, self->node_.name(), r.message());
        }
        finish();
      });
    });
  });
  // The node may have stopped already (its I/O thread then runs nothing):
  // wait no longer than the two calls a leave makes.
  (void)finished.wait_for(opts_.request_timeout * 2 + milliseconds(500));
}

} // namespace troupe::cluster_detail
