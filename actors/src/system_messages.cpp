// The system messages behind stops, monitors, links and supervision: their
// operations and how each acts on the receiving cell.
#include <algorithm>

#include "system_messages.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/signals.hpp"

namespace troupe::detail {

namespace {
// -- stop / start ---------------------------------------------------------------
void invoke_stop(actor_cell& self, envelope* e) {
  auto* me = static_cast<message_envelope<exit_reason>*>(e);
  const exit_reason why = me->value;
  delete me;
  if (self.suspended()) return;  // already stopped; its supervisor decides
  self.request_stop(why);
}
constexpr message_ops stop_ops{&invoke_stop, &destroy_envelope<exit_reason>, &typeid(exit_reason), nullptr};

using handover_fn = std::function<bool(envelope*)>;
void invoke_handover_stop(actor_cell& self, envelope* e) {
  auto* m = static_cast<message_envelope<handover_fn>*>(e);
  if (!self.suspended()) self.extras().handover = std::move(m->value);
  delete m;
  if (self.suspended()) return;
  self.request_stop(exit_reason::stopped);
}
constexpr message_ops handover_stop_ops{&invoke_handover_stop, &destroy_envelope<handover_fn>, &typeid(handover_fn),
                                        nullptr};

struct start_tag {};
void invoke_start(actor_cell& self, envelope* e) {
  delete static_cast<message_envelope<start_tag>*>(e);
  self.call_start();
}
constexpr message_ops start_ops{&invoke_start, &destroy_envelope<start_tag>, &typeid(start_tag), nullptr};

// -- monitors -------------------------------------------------------------------
void send_down_impl(actor_cell& target, const monitor_request& r) noexcept {
  try {
    r.watcher->enqueue_system(new message_envelope<down>(
        r.down_ops, down{any_ref::from_cell(&target), target.stop_reason(), target.exit_what(), r.id}));
  } catch (...) {
  }
}
void invoke_monitor(actor_cell& self, envelope* e) {
  std::unique_ptr<message_envelope<monitor_request>> me(static_cast<message_envelope<monitor_request>*>(e));
  self.extras().watchers.push_back(watcher{std::move(me->value.watcher), me->value.id, me->value.down_ops});
}
void monitor_target_gone(actor_cell& target, envelope* e) noexcept {
  std::unique_ptr<message_envelope<monitor_request>> me(static_cast<message_envelope<monitor_request>*>(e));
  send_down(target, me->value);  // monitoring a stopped actor: down at once
}
constexpr message_ops monitor_ops{&invoke_monitor, &destroy_envelope<monitor_request>, &typeid(monitor_request),
                                  &monitor_target_gone};

void invoke_demonitor(actor_cell& self, envelope* e) {
  std::unique_ptr<message_envelope<demonitor_request>> me(static_cast<message_envelope<demonitor_request>*>(e));
  if (cell_extras* x = self.extras_if_any()) {
    const bool every = me->value.id == demonitor_request::every;
    std::erase_if(x->watchers, [&](const watcher& w) {
      return w.who.get() == me->value.watcher && (every || w.id == me->value.id);
    });
  }
}
constexpr message_ops demonitor_ops{&invoke_demonitor, &destroy_envelope<demonitor_request>,
                                    &typeid(demonitor_request), nullptr};

// -- links ----------------------------------------------------------------------
void invoke_exit_signal(actor_cell& self, envelope* e);
constexpr message_ops exit_signal_ops{&invoke_exit_signal, &destroy_envelope<exit_msg>, &typeid(exit_msg), nullptr};

void send_exit_impl(actor_cell& to, actor_cell& from, exit_reason why, std::string what) noexcept {
  try {
    to.enqueue_system(new message_envelope<exit_msg>(&exit_signal_ops, exit_msg{any_ref::from_cell(&from), why, std::move(what)}));
  } catch (...) {
  }
}

void invoke_link(actor_cell& self, envelope* e) {
  std::unique_ptr<message_envelope<link_request>> me(static_cast<message_envelope<link_request>*>(e));
  auto& links = self.extras().links;
  if (std::find(links.begin(), links.end(), me->value.from) == links.end()) links.push_back(std::move(me->value.from));
}
void link_target_gone(actor_cell& target, envelope* e) noexcept {
  std::unique_ptr<message_envelope<link_request>> me(static_cast<message_envelope<link_request>*>(e));
  // Linking to an actor that is gone: the link fires at once.
  send_exit(*me->value.from, target, target.stop_reason(), target.exit_what());
}
constexpr message_ops link_ops{&invoke_link, &destroy_envelope<link_request>, &typeid(link_request), &link_target_gone};

void invoke_unlink(actor_cell& self, envelope* e) {
  std::unique_ptr<message_envelope<unlink_request>> me(static_cast<message_envelope<unlink_request>*>(e));
  if (cell_extras* x = self.extras_if_any()) {
    std::erase_if(x->links, [&](const cell_ptr& c) { return c.get() == me->value.from; });
  }
}
constexpr message_ops unlink_ops{&invoke_unlink, &destroy_envelope<unlink_request>, &typeid(unlink_request), nullptr};

void invoke_exit_signal(actor_cell& self, envelope* e) {
  auto* me = static_cast<message_envelope<exit_msg>*>(e);
  if (cell_extras* x = self.extras_if_any()) {
    std::erase_if(x->links, [&](const cell_ptr& c) { return c.get() == me->value.from.cell(); });
  }
  if (me->value.reason == exit_reason::normal || self.suspended()) {
    delete me;
    return;
  }
  if (self.trap_exit(e)) return;  // the actor handles exit_msg itself
  const exit_reason why = me->value.reason;
  std::string what = "linked actor " + std::to_string(me->value.from.id()) + " stopped (" +
                     std::string(to_string(why)) + (me->value.what.empty() ? "" : ": " + me->value.what) + ")";
  delete me;
  self.extras().exit_what = std::move(what);
  self.request_stop(why);
}

// -- supervision ----------------------------------------------------------------
void invoke_restart(actor_cell& self, envelope* e) {
  delete static_cast<message_envelope<start_tag>*>(e);
  self.restart_incarnation();
}
constexpr message_ops restart_ops{&invoke_restart, &destroy_envelope<start_tag>, &typeid(start_tag), nullptr};

struct terminate_cmd {
  exit_reason reason;
  std::string what;
};
void invoke_terminate(actor_cell& self, envelope* e) {
  std::unique_ptr<message_envelope<terminate_cmd>> me(static_cast<message_envelope<terminate_cmd>*>(e));
  self.mark_final(me->value.reason, std::move(me->value.what));
}
constexpr message_ops terminate_ops{&invoke_terminate, &destroy_envelope<terminate_cmd>, &typeid(terminate_cmd), nullptr};
} // namespace

void send_down(actor_cell& target, const monitor_request& r) noexcept { send_down_impl(target, r); }

void send_exit(actor_cell& to, actor_cell& from, exit_reason why, std::string what) noexcept {
  send_exit_impl(to, from, why, std::move(what));
}

envelope* make_monitor_envelope(monitor_request r) {
  return new message_envelope<monitor_request>(&monitor_ops, std::move(r));
}

envelope* make_demonitor_envelope(demonitor_request r) { return new message_envelope<demonitor_request>(&demonitor_ops, r); }

envelope* make_link_envelope(link_request r) { return new message_envelope<link_request>(&link_ops, std::move(r)); }

envelope* make_unlink_envelope(unlink_request r) { return new message_envelope<unlink_request>(&unlink_ops, r); }

system_kind kind_of(const envelope* e) noexcept {
  const message_ops* o = e->ops;
  if (o == &stop_ops) return system_kind::stop;
  if (o == &monitor_ops) return system_kind::monitor;
  if (o == &demonitor_ops) return system_kind::demonitor;
  if (o == &link_ops) return system_kind::link;
  if (o == &unlink_ops) return system_kind::unlink;
  if (o == &exit_signal_ops) return system_kind::exit;
  return system_kind::other;
}

envelope* make_stop_envelope(exit_reason why) { return new message_envelope<exit_reason>(&stop_ops, why); }

envelope* make_handover_stop_envelope(std::function<bool(envelope*)> handover) {
  return new message_envelope<handover_fn>(&handover_stop_ops, std::move(handover));
}

envelope* make_start_envelope() { return new message_envelope<start_tag>(&start_ops); }

envelope* make_restart_envelope() { return new message_envelope<start_tag>(&restart_ops); }

envelope* make_terminate_envelope(exit_reason why, std::string what) {
  return new message_envelope<terminate_cmd>(&terminate_ops, terminate_cmd{why, std::move(what)});
}

std::uint64_t actor_cell::monitor(actor_cell& target, const message_ops* down_ops) {
  cell_extras& x = extras();
  const std::uint64_t id = x.next_monitor++;
  x.monitoring.emplace(id, cell_ptr(&target));
  target.enqueue_system(new message_envelope<monitor_request>(&monitor_ops, monitor_request{cell_ptr(this), id, down_ops}));
  return id;
}

void actor_cell::demonitor(std::uint64_t id) {
  if (extras_ == nullptr) return;
  auto it = extras_->monitoring.find(id);
  if (it == extras_->monitoring.end()) return;
  cell_ptr target = std::move(it->second);
  extras_->monitoring.erase(it);
  target->enqueue_system(new message_envelope<demonitor_request>(&demonitor_ops, demonitor_request{this, id}));
}

bool actor_cell::take_monitor(std::uint64_t id) noexcept {
  return extras_ != nullptr && extras_->monitoring.erase(id) == 1;
}

void actor_cell::link(actor_cell& other) {
  if (&other == this) return;
  auto& links = extras().links;
  if (std::find_if(links.begin(), links.end(), [&](const cell_ptr& c) { return c.get() == &other; }) == links.end()) {
    links.emplace_back(&other);
  }
  other.enqueue_system(new message_envelope<link_request>(&link_ops, link_request{cell_ptr(this)}));
}

void actor_cell::unlink(actor_cell& other) {
  if (extras_ != nullptr) std::erase_if(extras_->links, [&](const cell_ptr& c) { return c.get() == &other; });
  other.enqueue_system(new message_envelope<unlink_request>(&unlink_ops, unlink_request{this}));
}

} // namespace troupe::detail
