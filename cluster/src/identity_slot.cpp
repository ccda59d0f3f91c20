#include "troupe/cluster/detail/identity_slot.hpp"

#include "router.hpp"

namespace troupe::cluster_detail {

namespace {
/// Resolutions a held message waits through before it is given up (its
/// activation moved again each time it was about to be sent).
constexpr int max_tries = 3;
} // namespace

identity_slot::identity_slot(std::weak_ptr<router> r, std::string k, std::string id, resolve_fn res,
                             std::size_t max_held, timer_service& t)
    : kind(std::move(k)),
      identity(std::move(id)),
      resolve(std::move(res)),
      timers(t),
      router_(std::move(r)),
      max_held_(max_held) {}

detail::cell_ptr identity_slot::current() const {
  std::lock_guard lock(mx_);
  return cell_;
}

void identity_slot::invalidate(const detail::actor_cell* seen) {
  std::lock_guard lock(mx_);
  if (cell_.get() == seen) cell_ = detail::cell_ptr();
}

send_result identity_slot::hold(held_send send) {
  bool start = false;
  bool full = false;
  {
    std::lock_guard lock(mx_);
    if (cell_ && cell_->box().is_closed()) cell_ = detail::cell_ptr();  // stopped: find it again
    if (cell_) {
      // Activated meanwhile: send now (outside the lock).
    } else {
      if (held_.size() >= max_held_) {
        full = true;
      } else {
        held_.push_back({std::move(send), 0});
        start = !resolving_;
        resolving_ = true;
        send = nullptr;
      }
    }
  }
  if (full) {
    if (auto r = router_.lock()) r->count_refused(*this);
    return send_result::full;
  }
  if (send) {
    detail::cell_ptr c = current();
    if (c && send(c, nullptr)) return send_result::ok;
    if (c) invalidate(c.get());
    return hold(std::move(send));
  }
  if (start) {
    if (auto r = router_.lock()) {
      r->resolve(shared_from_this());
    } else {
      failed(failure{errc::shutting_down, "the cluster membership has ended"});
    }
  }
  return send_result::ok;
}

void identity_slot::activated(detail::cell_ptr c) {
  std::deque<held> batch;
  {
    std::lock_guard lock(mx_);
    cell_ = c;
    resolving_ = false;
    batch.swap(held_);
  }
  run(std::move(batch), c, nullptr);
}

void identity_slot::failed(const failure& why) {
  std::deque<held> batch;
  {
    std::lock_guard lock(mx_);
    resolving_ = false;
    batch.swap(held_);
  }
  run(std::move(batch), detail::cell_ptr(), &why);
}

void identity_slot::run(std::deque<held> batch, const detail::cell_ptr& c, const failure* why) {
  std::deque<held> again;
  for (auto& h : batch) {
    if (!c) {
      h.send(c, why);
      if (auto r = router_.lock()) r->count_not_activated(*this);
      continue;
    }
    if (!h.send(c, nullptr)) again.push_back(std::move(h));
  }
  if (again.empty()) return;
  // The activation went away between being found and being used: find it
  // again, keeping these first (in their order).
  invalidate(c.get());
  bool start = false;
  std::deque<held> over;
  {
    std::lock_guard lock(mx_);
    for (auto it = again.rbegin(); it != again.rend(); ++it) {
      if (++it->tries >= max_tries) {
        over.push_front(std::move(*it));
      } else {
        held_.push_front(std::move(*it));
      }
    }
    start = !held_.empty() && !resolving_;
    if (start) resolving_ = true;
  }
  const failure moved{errc::refused, "the virtual actor moved " + std::to_string(max_tries) + " times while the message waited"};
  for (auto& h : over) {
    h.send(detail::cell_ptr(), &moved);
    if (auto r = router_.lock()) r->count_not_activated(*this);
  }
  if (start) {
    if (auto r = router_.lock()) r->resolve(shared_from_this());
  }
}

} // namespace troupe::cluster_detail
