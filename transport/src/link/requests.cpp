#include "link/requests.hpp"

#include "link/log.hpp"

namespace troupe::transport {

void lookup_state::finish(std::optional<control::lookup_reply> a, std::error_code ec, std::string why) {
  std::function<void(lookup_state&)> run;
  {
    std::lock_guard lock(mx);
    if (done) return;
    done = true;
    answer = std::move(a);
    if (!answer) {
      code = ec;
      error = std::move(why);
    }
    run = std::move(then);
    cv.notify_all();
  }
  // done is set: nothing changes the fields any more.
  if (run) run_guarded("a lookup's callback", [&] { run(*this); });
}

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

bool requests::add_lookup(std::shared_ptr<lookup_state> l, std::uint64_t& id) {
  std::lock_guard lock(mx_);
  if (ended_) return false;
  id = next_lookup_++;
  lookups_.emplace(id, std::move(l));
  return true;
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
  l->finish(std::move(r), {}, {});
}

void requests::fail_lookup(std::uint64_t id, std::error_code code, const std::string& why) {
  std::shared_ptr<lookup_state> l;
  {
    std::lock_guard lock(mx_);
    auto it = lookups_.find(id);
    if (it == lookups_.end()) return;  // answered
    l = std::move(it->second);
    lookups_.erase(it);
  }
  l->finish(std::nullopt, code, why);
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
  for (auto& [id, l] : lookups) l->finish(std::nullopt, ask_error::node_down, what);
}

} // namespace troupe::transport
