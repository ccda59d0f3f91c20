#include "node/directory.hpp"

#include <stdexcept>

namespace troupe::transport {

void actor_directory::publish(std::string name, detail::actor_cell* c, const std::type_info& type,
                        std::vector<detail::message_decoder> accepts, remote_control allow) {
  if (c == nullptr) throw std::invalid_argument("troupe::node::publish: empty actor_ref");
  auto ex = std::make_shared<exposed_actor>();
  ex->cell = detail::cell_ptr(c);
  ex->type = &type;
  ex->allow.store(static_cast<unsigned char>(allow), std::memory_order_relaxed);
  for (const auto& d : accepts) ex->accepts.emplace(*d.name, d);
  std::lock_guard lock(mx_);
  purge_stopped_locked();
  auto [it, fresh] = exposed_.try_emplace(c->id(), ex);
  if (fresh) {
    for (const auto& [n, d] : ex->accepts) ++known_types_[n];
  } else {
    ex = it->second;
    ex->allow.fetch_or(static_cast<unsigned char>(allow), std::memory_order_relaxed);  // a grant only grows
  }
  if (!name.empty()) published_[std::move(name)] = ex;
  gen_.fetch_add(1, std::memory_order_acq_rel);
}

void actor_directory::purge_stopped_locked() {
  // Actors that stopped are forgotten (their cells freed); a later message
  // to one is a dead letter (not exposed).
  for (auto it = exposed_.begin(); it != exposed_.end();) {
    if (!it->second->cell->box().is_closed()) {
      ++it;
      continue;
    }
    for (const auto& [n, d] : it->second->accepts) {
      if (auto k = known_types_.find(n); k != known_types_.end() && --k->second == 0) known_types_.erase(k);
    }
    it = exposed_.erase(it);
  }
  std::erase_if(published_, [](const auto& kv) { return kv.second->cell->box().is_closed(); });
}

void actor_directory::unpublish(std::string_view name) {
  std::lock_guard lock(mx_);
  published_.erase(std::string(name));
  gen_.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<exposed_actor> actor_directory::find(std::uint64_t id) {
  std::lock_guard lock(mx_);
  auto it = exposed_.find(id);
  if (it == exposed_.end()) return nullptr;
  if (!it->second->cell->box().is_closed()) return it->second;
  forget_stopped_locked();  // it stopped for good
  return nullptr;
}

std::shared_ptr<exposed_actor> actor_directory::find(const std::string& name) {
  std::lock_guard lock(mx_);
  auto it = published_.find(name);
  if (it == published_.end()) return nullptr;
  if (!it->second->cell->box().is_closed()) return it->second;
  forget_stopped_locked();
  return nullptr;
}

void actor_directory::forget_stopped_locked() {
  purge_stopped_locked();
  gen_.fetch_add(1, std::memory_order_acq_rel);  // readers drop what they cached
}

bool actor_directory::knows_type(const std::string& wire_name) const {
  std::lock_guard lock(mx_);
  return known_types_.contains(wire_name);
}

void actor_directory::clear() {
  std::lock_guard lock(mx_);
  published_.clear();
  exposed_.clear();
  known_types_.clear();
  gen_.fetch_add(1, std::memory_order_acq_rel);
}

} // namespace troupe::transport
