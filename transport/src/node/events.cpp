#include "node/events.hpp"

namespace troupe::transport {

void node_events::subscribe(detail::cell_ptr who, std::function<void(const peer_event&)> deliver) {
  std::lock_guard lock(mx_);
  subscribers_.push_back({std::move(who), std::move(deliver)});
}

void node_events::up(const std::string& name, std::uint64_t incarnation) {
  bool again = false;
  {
    std::lock_guard lock(mx_);
    auto [it, fresh] = seen_.try_emplace(name, incarnation);
    again = !fresh && it->second == incarnation;
    it->second = incarnation;
  }
  if (again) {
    raise(node_reconnected{name, incarnation});
  } else {
    raise(node_up{name, incarnation});
  }
}

void node_events::down(const std::string& name, std::uint64_t incarnation, const std::string& reason) {
  {
    std::lock_guard lock(mx_);
    // The session ended: the next one, even with this incarnation, is new.
    if (auto it = seen_.find(name); it != seen_.end() && it->second == incarnation) seen_.erase(it);
  }
  raise(node_down{name, incarnation, reason});
}

std::size_t node_events::subscribers() {
  std::lock_guard lock(mx_);
  return subscribers_.size();
}

void node_events::raise(const peer_event& e) {
  std::vector<subscriber> to;
  {
    std::lock_guard lock(mx_);
    std::erase_if(subscribers_, [](const subscriber& s) { return s.who->box().is_closed(); });
    to = subscribers_;
  }
  // Outside the lock: a tell from the I/O thread never blocks (over the
  // bound it is accepted), and a subscriber may subscribe another.
  for (auto& s : to) s.deliver(e);
}

} // namespace troupe::transport
