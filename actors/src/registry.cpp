#include "troupe/actors/registry.hpp"

namespace troupe {

std::error_code registry::put(std::string_view name, const any_ref& ref) { return bind(name, ref, false); }

std::error_code registry::replace(std::string_view name, const any_ref& ref) { return bind(name, ref, true); }

std::error_code registry::bind(std::string_view name, const any_ref& ref, bool overwrite) {
  if (name.empty()) return errc::invalid_name;
  if (!ref) return errc::actor_stopped;
  any_ref old;  // released after the lock: may free a cell
  std::lock_guard lock(mx_);
  // A stopping actor closes its mailbox, then reads named() to decide
  // whether to call forget(). We mark it named, then read closed (all
  // seq_cst): either we see it closed, or it sees the mark and its forget()
  // waits for this lock and removes the entry we add.
  ref.cell()->set_named();
  if (ref.cell()->box().is_closed()) return errc::actor_stopped;
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {
    if (it->second == ref) return {};  // already bound to this actor
    if (!overwrite) return errc::name_taken;
    old = std::exchange(it->second, ref);  // the old actor's by_cell_ entry is skipped by forget()
  } else {
    by_name_.emplace(std::string(name), ref);
  }
  by_cell_.emplace(ref.cell(), std::string(name));
  if (on_bind_) on_bind_(*ref.cell(), name);
  return {};
}

any_ref registry::get(std::string_view name) const {
  std::lock_guard lock(mx_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? any_ref{} : it->second;
}

bool registry::erase(std::string_view name) {
  std::lock_guard lock(mx_);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return false;
  auto [b, e] = by_cell_.equal_range(it->second.cell());
  for (auto i = b; i != e; ++i) {
    if (i->second == name) {
      by_cell_.erase(i);
      break;
    }
  }
  by_name_.erase(it);
  return true;
}

std::size_t registry::size() const {
  std::lock_guard lock(mx_);
  return by_name_.size();
}

void registry::forget(const detail::actor_cell* c) noexcept {
  std::vector<any_ref> released;  // destroyed after the lock: may free cells
  {
    std::lock_guard lock(mx_);
    auto [b, e] = by_cell_.equal_range(c);
    for (auto i = b; i != e; ++i) {
      auto it = by_name_.find(i->second);
      if (it != by_name_.end() && it->second.cell() == c) {  // not if rebound to another actor since
        released.push_back(std::move(it->second));
        by_name_.erase(it);
      }
    }
    by_cell_.erase(c);
  }
}

} // namespace troupe
