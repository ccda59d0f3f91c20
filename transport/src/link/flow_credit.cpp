#include "link/flow_credit.hpp"

#include <algorithm>

#include "protocol/control_codec.hpp"

namespace troupe::transport {

// -- receive_account ----------------------------------------------------------

bool receive_account::charge(std::int64_t units, std::int64_t limit) noexcept {
  const std::int64_t received = received_.load(std::memory_order_relaxed) + units;
  if (received - granted_.load(std::memory_order_relaxed) > limit) return false;
  received_.store(received, std::memory_order_relaxed);
  return true;
}

void receive_account::return_leftover() noexcept {
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Only the owner's reference: nothing queued, so nothing can complete
    // a step. A message queued meanwhile changes the word: the CAS fails.
    if ((s & refs_mask) != 1 || (s >> 32) == 0) return;
    if (state_.compare_exchange_weak(s, s & refs_mask, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      grant(static_cast<std::int64_t>(s >> 32));
      return;
    }
  }
}

void receive_account::grant(std::int64_t units) noexcept {
  granted_.fetch_add(units, std::memory_order_relaxed);  // before the frame goes
  post_to(to_, [&](std::string& f) { control::append_credit(f, {target_, static_cast<std::uint64_t>(units)}); });
}

// -- send_windows ---------------------------------------------------------------

send_windows::window& send_windows::open(std::uint64_t remote) {
  std::lock_guard lock(mx_);
  window& w = windows_[remote];
  ++w.proxies;
  return w;
}

void send_windows::close(std::uint64_t remote) noexcept {
  std::lock_guard lock(mx_);
  auto it = windows_.find(remote);
  if (it == windows_.end()) return;
  if (--it->second.proxies == 0 && it->second.units.load(std::memory_order_relaxed) >= initial_credit) windows_.erase(it);
}

send_windows::window* send_windows::find(std::uint64_t remote) {
  std::lock_guard lock(mx_);
  auto it = windows_.find(remote);
  return it == windows_.end() ? nullptr : &it->second;
}

bool send_windows::park(window& w, detail::remote_proxy& p) {
  std::lock_guard lock(mx_);
  // Under the lock grant() adds under: a grant either came before (seen
  // here) or finds the proxy parked. After the end nobody would wake it.
  if (ended_ || w.units.load(std::memory_order_relaxed) > 0) return false;
  w.parked = detail::cell_ptr(&p);
  w.parked_at = std::chrono::steady_clock::now();
  w.reported = false;
  return true;
}

std::vector<send_windows::overdue_wait> send_windows::overdue(std::chrono::steady_clock::time_point now,
                                                              std::chrono::milliseconds bound) {
  std::vector<overdue_wait> out;
  std::lock_guard lock(mx_);
  for (auto& [id, w] : windows_) {
    if (!w.parked || w.reported || now - w.parked_at <= bound) continue;
    w.reported = true;
    out.push_back({id, std::chrono::duration_cast<std::chrono::milliseconds>(now - w.parked_at)});
  }
  return out;
}

void send_windows::grant(std::uint64_t remote, std::int64_t units) {
  detail::cell_ptr wake;  // woken and released outside the lock
  {
    std::lock_guard lock(mx_);
    auto it = windows_.find(remote);
    if (it == windows_.end()) return;  // nothing spent on it: nothing to give back
    window& w = it->second;
    const std::int64_t now = w.units.load(std::memory_order_relaxed);
    const std::int64_t next = std::min(now + units, initial_credit);
    w.units.fetch_add(next - now, std::memory_order_relaxed);  // turns only subtract: no lost update
    if (next > 0) wake = std::move(w.parked);
    if (w.proxies == 0 && next >= initial_credit) windows_.erase(it);
  }
  if (wake) static_cast<detail::remote_proxy&>(*wake).wake();
}

std::vector<detail::cell_ptr> send_windows::take_parked() {
  std::vector<detail::cell_ptr> out;
  std::lock_guard lock(mx_);
  ended_ = true;
  for (auto& [id, w] : windows_) {
    if (w.parked) out.push_back(std::move(w.parked));
  }
  return out;
}

void send_windows::restart() {
  std::lock_guard lock(mx_);
  ended_ = false;
  std::erase_if(windows_, [](const auto& kv) { return kv.second.proxies == 0; });  // credit owed by an ended session
  for (auto& [id, w] : windows_) {
    w.units.store(initial_credit, std::memory_order_relaxed);
    w.parked = detail::cell_ptr();
    w.reported = false;
  }
}

std::size_t send_windows::size() const {
  std::lock_guard lock(mx_);
  return windows_.size();
}

} // namespace troupe::transport
