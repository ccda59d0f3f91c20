#include "link/requests.hpp"

namespace troupe::transport {

requests::~requests() { end("node down"); }

std::uint64_t requests::add_ask(pending_ask a) {
  std::lock_guard lock(mx_);
  if (ended_) return 0;
  const std::uint64_t id = next_ask_++;
  asks_.emplace(id, a);
  return id;
}

std::optional<pending_ask> requests::take_ask(std::uint64_t id) {
  std::lock_guard lock(mx_);
  auto it = asks_.find(id);
  if (it == asks_.end()) return std::nullopt;
  pending_ask a = it->second;
  asks_.erase(it);
  return a;
}

std::shared_ptr<lookup_state> requests::add_lookup(std::uint64_t& id) {
  auto l = std::make_shared<lookup_state>();
  std::lock_guard lock(mx_);
  if (ended_) return nullptr;
  id = next_lookup_++;
  lookups_.emplace(id, l);
  return l;
}

void requests::answer_lookup(control::lookup_reply&& r) {
  std::shared_ptr<lookup_state> l;
  {
    std::lock_guard lock(mx_);
    auto it = lookups_.find(r.request);
    if (it == lookups_.end()) return;  // timed out
    l = std::move(it->second);
    lookups_.erase(it);
  }
  std::lock_guard lock(l->mx);
  l->done = true;
  l->answer = std::move(r);
  l->cv.notify_all();
}

void requests::forget_lookup(std::uint64_t id) {
  std::lock_guard lock(mx_);
  lookups_.erase(id);
}

void requests::end(const std::string& what) noexcept {
  std::unordered_map<std::uint64_t, pending_ask> asks;
  std::unordered_map<std::uint64_t, std::shared_ptr<lookup_state>> lookups;
  {
    std::lock_guard lock(mx_);
    ended_ = true;
    asks.swap(asks_);
    lookups.swap(lookups_);
  }
  for (auto& [id, a] : asks) {
    a.slot->fail(ask_error::node_down, what);
    delete a.slot;
  }
  for (auto& [id, l] : lookups) {
    std::lock_guard lock(l->mx);
    l->done = true;
    l->error = what;
    l->cv.notify_all();
  }
}

} // namespace troupe::transport
