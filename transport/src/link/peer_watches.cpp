#include "link/peer_watches.hpp"

namespace troupe::transport {

peer_watches::added peer_watches::add(std::uint64_t target, std::uint64_t ref) {
  std::lock_guard guard(mx_);
  if (held_.contains({target, ref})) return added::already;
  if (held_.size() >= max_) return added::full;
  held_.insert({target, ref});
  return added::yes;
}

bool peer_watches::remove(std::uint64_t target, std::uint64_t ref) {
  std::lock_guard guard(mx_);
  return held_.erase({target, ref}) != 0;
}

std::vector<std::uint64_t> peer_watches::take_all() {
  std::unordered_set<key, key_hash> all;
  {
    std::lock_guard guard(mx_);
    all.swap(held_);
  }
  std::unordered_set<std::uint64_t> targets;
  for (const key& k : all) targets.insert(k.target);
  return {targets.begin(), targets.end()};
}

std::size_t peer_watches::size() {
  std::lock_guard guard(mx_);
  return held_.size();
}

} // namespace troupe::transport
