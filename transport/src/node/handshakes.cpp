#include "node/handshakes.hpp"

namespace troupe::transport {

std::shared_ptr<connection> handshake_table::add(std::shared_ptr<connection> c, const std::string& address) {
  std::shared_ptr<connection> evicted;
  if (!address.empty()) {
    auto n = per_address_.find(address);
    iterator victim = order_.end();
    if (n != per_address_.end() && n->second >= max_per_address_) {
      victim = oldest(&address);
    } else if (order_.size() >= max_total_) {
      victim = oldest(nullptr);
      if (victim == order_.end()) return c;  // only our own dials: the stranger waits outside
    }
    if (victim != order_.end()) {
      evicted = victim->c;
      erase(victim);
    }
    ++per_address_[address];
  }
  order_.push_back(entry{c, address});
  index_[c.get()] = std::prev(order_.end());
  return evicted;
}

handshake_table::iterator handshake_table::oldest(const std::string* address) {
  for (auto it = order_.begin(); it != order_.end(); ++it) {
    if (!it->address.empty() && (address == nullptr || it->address == *address)) return it;
  }
  return order_.end();
}

void handshake_table::erase(iterator it) noexcept {
  if (!it->address.empty()) {
    auto n = per_address_.find(it->address);
    if (n != per_address_.end() && --n->second == 0) per_address_.erase(n);
  }
  index_.erase(it->c.get());
  order_.erase(it);
}

void handshake_table::remove(const connection& c) noexcept {
  auto it = index_.find(&c);
  if (it != index_.end()) erase(it->second);
}

std::vector<std::shared_ptr<connection>> handshake_table::all() const {
  std::vector<std::shared_ptr<connection>> out;
  out.reserve(order_.size());
  for (const auto& e : order_) out.push_back(e.c);
  return out;
}

std::size_t handshake_table::from(const std::string& address) const {
  auto n = per_address_.find(address);
  return n == per_address_.end() ? 0 : n->second;
}

void handshake_table::clear() noexcept {
  order_.clear();
  index_.clear();
  per_address_.clear();
}

} // namespace troupe::transport
