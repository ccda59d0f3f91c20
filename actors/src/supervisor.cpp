#include "troupe/actors/supervisor.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace troupe {

namespace {
bool abnormal(exit_reason r) noexcept {
  return r == exit_reason::exception || r == exit_reason::killed || r == exit_reason::node_down;
}
} // namespace

void supervisor_options::validate() const {
  if (window <= std::chrono::milliseconds::zero()) throw std::invalid_argument("supervisor_options: window must be positive");
  if (delay.initial < std::chrono::milliseconds::zero() || delay.max < std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("supervisor_options: backoff delays must not be negative");
  }
  if (delay.max < delay.initial) throw std::invalid_argument("supervisor_options: backoff max must be at least initial");
  if (!(delay.jitter >= 0.0 && delay.jitter <= 1.0)) {
    throw std::invalid_argument("supervisor_options: backoff jitter must be within [0, 1]");
  }
}

supervisor::supervisor(supervisor_options opts, std::vector<child_spec> specs, std::shared_ptr<supervisor_children> out)
    : opts_(opts), rng_(std::random_device{}()) {
  opts_.validate();
  std::set<std::string> names;
  for (const auto& s : specs) {
    if (!names.insert(s.name()).second) throw std::invalid_argument("supervisor: duplicate child name '" + s.name() + "'");
  }
  detail::actor_cell* me = self().cell();
  detail::cell_ptr me_ptr(me);
  auto& core = me->system();
  children_.reserve(specs.size());
  try {
    for (auto& s : specs) {
      any_ref ref = s.start_(core, me_ptr, &detail::user_ops<supervisor, detail::child_exit>::ops);
      if (s.registered_) (void)core.names().replace(s.name(), ref);
      children_.emplace_back(std::move(s), std::move(ref));
    }
  } catch (...) {
    terminate_all(exit_reason::stopped, "supervisor failed to start");
    throw;
  }
  if (out) {
    for (const auto& c : children_) out->list.emplace_back(c.spec.name(), c.ref);
  }
}

supervisor::~supervisor() { terminate_all(exit_reason::stopped, "supervisor destroyed"); }

void supervisor::terminate_all(exit_reason why, const std::string& what) {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    if (it->alive) {
      it->alive = false;
      it->ref.cell()->enqueue_system(detail::make_terminate_envelope(why, what));
    }
  }
}

void supervisor::on_stop() {
  ++generation_;  // pending delayed restarts are void
  terminate_all(exit_reason::stopped, "supervisor stopped");
}

std::chrono::milliseconds supervisor::next_delay(child& c) {
  const auto now = std::chrono::steady_clock::now();
  c.streak = (c.streak != 0 && now - c.last_restart < opts_.window) ? c.streak + 1 : 1;
  c.last_restart = now;
  if (opts_.delay.initial.count() == 0) return std::chrono::milliseconds::zero();
  const double base = static_cast<double>(opts_.delay.initial.count()) * std::pow(2.0, std::min(c.streak - 1, 30u));
  double d = std::min(base, static_cast<double>(opts_.delay.max.count()));
  std::uniform_real_distribution<double> u(-opts_.delay.jitter, opts_.delay.jitter);
  d *= 1.0 + u(rng_);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, d)));
}

void supervisor::on(detail::child_exit e) {
  auto it = std::find_if(children_.begin(), children_.end(), [&](const child& c) { return c.ref.cell() == e.child.get(); });
  if (it == children_.end() || !it->alive) {
    e.child->enqueue_system(detail::make_terminate_envelope(e.reason, e.what));
    return;
  }
  const bool restartable = it->spec.kind() == restart::permanent ||
                           (it->spec.kind() == restart::transient && abnormal(e.reason));
  if (!restartable || self().cell()->system().shutting_down()) {
    it->alive = false;
    e.child->enqueue_system(detail::make_terminate_envelope(e.reason, e.what));
    return;
  }
  // Restart intensity: too many restarts in the window and we give up.
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(restarts_, [&](auto t) { return now - t >= opts_.window; });
  restarts_.push_back(now);
  if (restarts_.size() > opts_.max_restarts) {
    const std::string why = "restart intensity exceeded: " + std::to_string(restarts_.size()) + " restarts in " +
                            std::to_string(opts_.window.count()) + " ms (last: child '" + it->spec.name() + "', " +
                            std::string(to_string(e.reason)) + (e.what.empty() ? "" : ": " + e.what) + ")";
    terminate_all(e.reason, e.what);
    self().cell()->system().note_give_up(*self().cell(), why);
    throw std::runtime_error(why);  // this supervisor fails; its own supervisor decides
  }
  const auto idx = static_cast<std::size_t>(it - children_.begin());
  std::vector<std::size_t> targets;
  switch (opts_.how) {
    case strategy::one_for_one: targets = {idx}; break;
    case strategy::one_for_all:
      for (std::size_t i = 0; i < children_.size(); ++i) {
        if (children_[i].alive) targets.push_back(i);
      }
      break;
    case strategy::rest_for_one:
      for (std::size_t i = idx; i < children_.size(); ++i) {
        if (children_[i].alive) targets.push_back(i);
      }
      break;
  }
  for (std::size_t i : targets) {
    child& t = children_[i];
    t.reason = i == idx ? e.reason : exit_reason::stopped;
    t.what = i == idx ? e.what : "restarted with its sibling '" + it->spec.name() + "'";
  }
  const auto delay = next_delay(*it);
  if (delay.count() == 0) {
    on(restart_due{generation_, std::move(targets)});
  } else {
    send_after(self(), delay, restart_due{generation_, std::move(targets)});
  }
}

void supervisor::on(restart_due r) {
  if (r.generation != generation_) return;
  auto& core = self().cell()->system();
  for (std::size_t i : r.children) {
    if (i >= children_.size() || !children_[i].alive) continue;
    child& c = children_[i];
    ++c.restarts;  // counted and published before the child can answer as its next incarnation
    core.note_restart(child_restarted{any_ref(self()), c.spec.name(), c.ref, c.reason, c.what, c.restarts});
    c.ref.cell()->enqueue_system(detail::make_restart_envelope());
  }
}

std::vector<child_restart_count> supervisor::on(restart_counts) const {
  std::vector<child_restart_count> out;
  out.reserve(children_.size());
  for (const auto& c : children_) out.push_back(child_restart_count{c.spec.name(), c.restarts});
  return out;
}

supervisor_children supervisor::on(which_children) {
  supervisor_children out;
  for (const auto& c : children_) {
    if (c.alive) out.list.emplace_back(c.spec.name(), c.ref);
  }
  return out;
}

supervisor_handle spawn_supervisor(detail::system_core& core, supervisor_options opts, std::vector<child_spec> specs) {
  auto out = std::make_shared<supervisor_children>();
  auto ref = detail::spawn_cell<supervisor>(core, spawn_options{.mailbox = mailbox_options::make_unbounded()}, opts,
                                            std::move(specs), out);
  return supervisor_handle{std::move(ref), std::move(out)};
}

supervisor_handle spawn_supervisor(actor_system& sys, supervisor_options opts, std::vector<child_spec> specs) {
  return spawn_supervisor(detail::system_access::core(sys), opts, std::move(specs));
}

} // namespace troupe
