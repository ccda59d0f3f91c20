#include "router.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <limits>

#include "placement.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/transport/node_io.hpp"

namespace troupe::cluster_detail {

namespace {

/// Redirections to a holder one resolution follows before it gives up.
constexpr int max_hops = 3;

template <class R>
struct settle_once {
  std::atomic<bool> done{false};
  std::function<void(result<R>)> f;
  void fire(result<R> r) {
    if (!done.exchange(true)) f(std::move(r));
  }
};

/// The reply slot of an ask made from the I/O thread: the reply (or the
/// failure) is handed to a callback instead of a waiting thread.
template <class R>
struct callback_reply final : detail::reply_slot<R> {
  explicit callback_reply(std::shared_ptr<settle_once<R>> s) noexcept : s_(std::move(s)) {}
  void deliver(R&& v) noexcept override { s_->fire(result<R>(std::move(v))); }
  void fail(ask_error code, std::string msg) noexcept override { s_->fire(result<R>(failure{code, std::move(msg)})); }
  std::shared_ptr<settle_once<R>> s_;
};

/// Asks `to` with `req`; `then` runs once on the I/O thread with the reply,
/// the failure, or ask_error::timeout after `timeout`.
void ask_then(asio::io_context& io, const actor_ref<activator>& to, cluster_records::activate req,
              std::chrono::milliseconds timeout, std::function<void(result<cluster_records::activated>)> then) {
  using R = cluster_records::activated;
  auto timer = std::make_shared<asio::steady_timer>(io, timeout);
  auto once = std::make_shared<settle_once<R>>();
  once->f = [&io, timer, then = std::move(then)](result<R> r) {
    asio::post(io, [timer, then, r = std::move(r)]() mutable {
      timer->cancel();
      then(std::move(r));
    });
  };
  timer->async_wait([once](const boost::system::error_code& ec) {
    if (!ec) once->fire(failure{ask_error::timeout, "the member's activator did not answer in time"});
  });
  using D = cluster_records::activate;
  auto* e = new detail::message_envelope<D>(&detail::user_ops<activator, D>::ops, std::move(req));
  e->reply = new callback_reply<R>(once);
  to.cell()->enqueue(e);
}

} // namespace

router::router(actor_system& sys, node& n, std::shared_ptr<membership> m, std::shared_ptr<activations> a,
               std::chrono::milliseconds request_timeout)
    : sys_(sys), node_(n), m_(std::move(m)), acts_(std::move(a)), timeout_(request_timeout) {}

std::shared_ptr<identity_slot> router::slot(const std::string& kind, const std::string& identity, resolve_fn resolve,
                                            std::size_t max_held) {
  std::lock_guard lock(mx_);
  auto& w = slots_[{kind, identity}];
  if (auto s = w.lock()) return s;
  std::erase_if(slots_, [](const auto& kv) { return kv.second.expired(); });  // handles nobody holds any more
  auto s = std::make_shared<identity_slot>(weak_from_this(), kind, identity, std::move(resolve), max_held,
                                          detail::system_access::core(sys_).timers());
  slots_[{kind, identity}] = s;
  return s;
}

bool router::rehome(const std::string& kind, const std::string& identity, detail::envelope* e) {
  resolve_fn resolve = acts_->resolver_of(kind);
  if (!resolve) return false;
  auto s = slot(kind, identity, std::move(resolve), std::numeric_limits<std::size_t>::max());
  // The slot lives while its resolution runs (the router holds it there).
  const send_result r = s->hold([e](const detail::cell_ptr& c, const failure* why) {
    if (!c) {
      detail::discard(e, ask_error::actor_stopped, why != nullptr ? why->message.c_str() : "not activated");
      return true;
    }
    (void)c->enqueue(e);  // refused: enqueue made it a dead letter (or failed its ask)
    return true;
  });
  return r == send_result::ok;
}

void router::singleton_kind(const std::string& kind) {
  std::lock_guard lock(mx_);
  singletons_[kind] = true;
}

void router::count_not_activated(const identity_slot& s) {
  detail::system_access::core(sys_).count_drops(drop_reason::not_activated, 1, s.kind);
}

void router::count_refused(const identity_slot& s) {
  detail::system_access::core(sys_).count_drops(drop_reason::mailbox_full, 1, s.kind);
}

void router::resolve(std::shared_ptr<identity_slot> s) {
  asio::post(io_context_of(node_), [self = shared_from_this(), s = std::move(s)] {
    if (self->stopping_) return s->failed(failure{errc::shutting_down, "the cluster membership has ended"});
    bool singleton = false;
    {
      std::lock_guard lock(self->mx_);
      singleton = self->singletons_.contains(s->kind);
    }
    const auto candidates = self->m_->hosting(s->kind);
    std::string owner;
    if (singleton) {
      const troupe::member* oldest = nullptr;
      for (const troupe::member* m : candidates) {
        if (oldest == nullptr || m->since < oldest->since) oldest = m;
      }
      if (oldest != nullptr) owner = oldest->name;
    } else {
      owner = owner_of(s->kind, s->identity, candidates);
    }
    if (owner.empty()) {
      return s->failed(failure{errc::refused, "no member hosts kind " + s->kind + " now (none listed, or all fenced)"});
    }
    self->try_at(s, owner, 0);
  });
}

void router::try_at(const std::shared_ptr<identity_slot>& s, const std::string& member, int hops) {
  asked_.fetch_add(1, std::memory_order_relaxed);
  if (member != node_.name()) return ask_remote(s, member, hops);
  acts_->activate(s->kind, s->identity, [self = shared_from_this(), s, hops](const activation_outcome& o) {
    if (o.cell) return s->activated(o.cell);
    if (!o.holder.empty() && hops < max_hops) return self->try_at(s, o.holder, hops + 1);
    s->failed(failure{errc::refused, o.error.empty() ? "held by " + o.holder : o.error});
  });
}

void router::ask_remote(const std::shared_ptr<identity_slot>& s, const std::string& member, int hops) {
  with_activator(member, [self = shared_from_this(), s, member, hops](result<actor_ref<activator>> a) {
    if (!a) return s->failed(failure{a.error(), "member " + member + ": " + std::string(a.message())});
    cluster_records::activate req;
    req.set_kind(s->kind);
    req.set_identity(s->identity);
    ask_then(io_context_of(self->node_), *a, std::move(req), self->timeout_,
             [self, s, member, hops](result<cluster_records::activated> r) {
               self->answered(s, member, hops, std::move(r));
             });
  });
}

void router::answered(const std::shared_ptr<identity_slot>& s, const std::string& member, int hops,
                      result<cluster_records::activated> r) {
  if (!r) {
    activators_.erase(member);  // its link may be gone: look it up again next time
    return s->failed(failure{r.error(), "member " + member + ": " + std::string(r.message())});
  }
  if (r->actor() != 0) {
    auto p = node_.find_peer(member);
    if (!p) return s->failed(failure{ask_error::node_down, "member " + member + ": its link went"});
    return s->activated(s->resolve(*p, r->actor()));
  }
  if (!r->holder().empty() && hops < max_hops) return try_at(s, r->holder(), hops + 1);
  s->failed(failure{errc::refused, "member " + member + ": " + (r->error().empty() ? "held by " + r->holder() : r->error())});
}

void router::with_activator(const std::string& member, std::function<void(result<actor_ref<activator>>)> then) {
  const troupe::member* m = m_->find(member);
  if (m == nullptr) return then(failure{errc::refused, "not a member now"});
  if (auto it = activators_.find(member); it != activators_.end() && it->second.first == m->incarnation) {
    return then(it->second.second);
  }
  auto& io = io_context_of(node_);
  auto lookup = [self = shared_from_this(), &io, member, inc = m->incarnation, then](const peer& p) {
    p.lookup_then<activator>(activator_name, self->timeout_, [self, &io, member, inc, then](result<actor_ref<activator>> a) {
      asio::post(io, [self, member, inc, then, a = std::move(a)] {
        if (a) self->activators_[member] = {inc, *a};
        then(a);
      });
    });
  };
  if (auto p = node_.find_peer(member)) return lookup(*p);
  node_.connect_then(m->host, m->port, timeout_, [&io, lookup, then](result<peer> p) {
    asio::post(io, [lookup, then, p = std::move(p)] {
      if (!p) return then(failure{p.error(), std::string(p.message())});
      lookup(*p);
    });
  });
}

void router::stop() {
  asio::post(io_context_of(node_), [self = shared_from_this()] {
    self->stopping_ = true;
    self->activators_.clear();
  });
}

} // namespace troupe::cluster_detail
