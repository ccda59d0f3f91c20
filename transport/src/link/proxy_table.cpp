#include "link/proxy_table.hpp"

namespace troupe::transport {

detail::cell_ptr proxy_table::find_locked(std::uint64_t id) {
  auto it = proxies_.find(id);
  if (it == proxies_.end() || !it->second->try_add_ref()) return {};  // being freed: forget() comes
  return detail::cell_ptr::adopt(it->second);
}

detail::cell_ptr proxy_table::find(std::uint64_t id) {
  std::lock_guard lock(mx_);
  return find_locked(id);
}

detail::cell_ptr proxy_table::get(std::uint64_t id, const std::type_info& type,
                                  const std::shared_ptr<detail::proxy_link>& link) {
  std::unique_lock lock(mx_);
  if (detail::cell_ptr p = find_locked(id)) return p;
  mailbox_options mo;
  mo.capacity = capacity_;
  mo.low_water = mo.capacity / 2;
  windows_.open(id);  // closed by the proxy's forget()
  detail::remote_proxy* p = nullptr;
  try {
    p = new detail::remote_proxy(core_, mo, link, id, type);
  } catch (...) {
    windows_.close(id);  // no proxy, so no forget()
    throw;
  }
  try {
    proxies_[id] = p;  // replaces one being freed (its forget() then finds another)
  } catch (...) {
    lock.unlock();
    p->release();  // its forget() closes the window
    throw;
  }
  const bool gone = ended_;
  const bool for_good = for_good_;
  lock.unlock();
  detail::cell_ptr out = detail::cell_ptr::adopt(p);
  if (gone) p->node_down("node down", link.get(), for_good);  // nobody else has it yet
  return out;
}

bool proxy_table::admit_linked(std::uint64_t id) {
  std::lock_guard lock(mx_);
  if (proxies_.contains(id)) return true;  // no new proxy
  if (linked_.size() >= max_linked_) return false;
  linked_.insert(id);  // forget() takes it out
  return true;
}

void proxy_table::forget(detail::remote_proxy& p) noexcept {
  const std::uint64_t id = p.remote_id();
  windows_.close(id);  // each proxy opened its window once
  std::lock_guard lock(mx_);
  auto it = proxies_.find(id);
  if (it == proxies_.end() || it->second != &p) return;
  proxies_.erase(it);
  linked_.erase(id);
}

std::vector<detail::cell_ptr> proxy_table::alive_locked() {
  std::vector<detail::cell_ptr> out;
  for (auto& [id, p] : proxies_) {
    if (p->try_add_ref()) out.push_back(detail::cell_ptr::adopt(p));
  }
  return out;
}

std::vector<detail::cell_ptr> proxy_table::end(bool for_good) {
  std::lock_guard lock(mx_);
  ended_ = true;
  for_good_ = for_good_ || for_good;
  return alive_locked();
}

bool proxy_table::resume(const std::shared_ptr<connection>& serving, std::vector<detail::cell_ptr>& out) {
  std::lock_guard lock(mx_);
  if (for_good_) return false;
  ended_ = false;
  serving_ = serving;
  windows_.restart();
  out = alive_locked();
  return true;
}

std::shared_ptr<connection> proxy_table::serving() {
  std::lock_guard lock(mx_);
  return serving_.lock();
}

void proxy_table::serve(const std::shared_ptr<connection>& c) {
  std::lock_guard lock(mx_);
  serving_ = c;
}

bool proxy_table::over() {
  std::lock_guard lock(mx_);
  return for_good_;
}

bool proxy_table::empty() {
  std::lock_guard lock(mx_);
  return proxies_.empty();
}

bool proxy_table::pending_output() {
  std::lock_guard lock(mx_);
  for (auto& [id, p] : proxies_) {
    if (p->box().depth() != 0 && !p->box().is_closed()) return true;
  }
  return false;
}

bool proxy_table::all_closed() {
  std::lock_guard lock(mx_);
  for (auto& [id, p] : proxies_) {
    if (!p->box().is_closed()) return false;
  }
  return true;
}

} // namespace troupe::transport
