#include "node/auth_penalties.hpp"

#include <algorithm>

namespace troupe::transport {

void auth_penalties::failed(const std::string& address, clock::time_point now) {
  std::lock_guard lock(mx_);
  if (by_address_.size() >= max_addresses && !by_address_.contains(address)) {
    auto stalest = std::min_element(by_address_.begin(), by_address_.end(),
                                    [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
    by_address_.erase(stalest);
  }
  record& r = by_address_[address];
  if (now - r.last > forget_after) r.failures = 0;
  r.failures = std::min(r.failures + 1, 16u);
  r.last = now;
}

std::chrono::milliseconds auth_penalties::wait_for(const std::string& address, clock::time_point now) {
  std::lock_guard lock(mx_);
  auto it = by_address_.find(address);
  if (it == by_address_.end()) return std::chrono::milliseconds(0);
  if (now - it->second.last > forget_after) {
    by_address_.erase(it);
    return std::chrono::milliseconds(0);
  }
  return std::min(first_wait * (1u << (it->second.failures - 1)), max_wait);
}

} // namespace troupe::transport
