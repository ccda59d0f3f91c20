// An actor's life: the end of a turn that stopped it, incarnations and
// their supervision, the final stop, stash, idle timeouts.
#include <stdexcept>

#include "cell_internals.hpp"
#include "spill_box.hpp"
#include "system_messages.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/actors/signals.hpp"
#include "troupe/actors/task.hpp"

namespace troupe::detail {

void actor_cell::fail(const char* what) noexcept {
  sys_->log_failure(*this, what);
  if (!stop_requested_) {
    sys_->count_failure();
    try {
      extras().exit_what = what;
    } catch (...) {
    }
  }
  request_stop(exit_reason::exception);
}

void actor_cell::fail_after_down(reply_slot_base* slot, ask_error code, std::string what) noexcept {
  if (slot == nullptr) return;
  try {
    extras().thrown.push_back(cell_extras::thrown_ask{slot, code, what});
  } catch (...) {
    slot->fail(code, std::move(what));  // no memory to hold it: fail it now
    delete slot;
  }
}

void actor_cell::fail_thrown() noexcept {
  if (extras_ == nullptr) return;
  std::vector<cell_extras::thrown_ask> thrown = std::move(extras_->thrown);
  extras_->thrown.clear();
  for (auto& t : thrown) {
    t.slot->fail(t.code, std::move(t.what));
    delete t.slot;
  }
}

resumable::result actor_cell::end_of_life(turn t) noexcept {
  stop_requested_ = false;
  // A send of this last turn may have muted it: that wait ends with the turn.
  if (actor_cell* m = std::exchange(muted_on_, nullptr)) m->release();
  end_incarnation();
  if (extras_ != nullptr && extras_->supervisor && !extras_->final) return suspend(t);
  return final_stop(t);
}

void actor_cell::end_incarnation() noexcept {
  actor_cell* prev = std::exchange(tls_current, this);
  if (extras_ != nullptr && extras_->tasks != nullptr) destroy_tasks(*this);  // before the state they use
  if (instance_alive_) {
    if (stop_reason_ != exit_reason::killed) {
      try {
        call_stop();
      } catch (const std::exception& ex) {
        sys_->log_failure(*this, ex.what());
      } catch (...) {
        sys_->log_failure(*this, "unknown exception in on_stop");
      }
    }
    instance_alive_ = false;
    destroy_instance();
  }
  tls_current = prev;
  if (extras_ == nullptr) return;
  cell_extras& x = *extras_;
  for (auto& tm : x.timers) tm.cancel();
  x.timers.clear();
  x.ask_timer.cancel();
  x.ask_timer = {};  // its callback holds this cell
  x.ask_timer_at = std::chrono::steady_clock::time_point::max();
  x.asks.clear();
  x.exclusive_waits = 0;
  x.idle_timer.cancel();
  x.idle_timer = {};  // its callback holds this cell: keeping the handle kept the cell (and its timer) alive for good
  x.idle_tracking = false;
  x.behaviors.clear();
  x.monitoring.clear();  // a new incarnation starts with no monitors (stale downs are dropped)
  // A restarted incarnation gets the stashed messages back first.
  for (auto it = x.stash.rbegin(); it != x.stash.rend(); ++it) x.unstashed.push_front(*it);
  x.stash.clear();
  // Links belong to the incarnation: each linked actor hears of this stop.
  std::vector<cell_ptr> links = std::move(x.links);
  x.links.clear();
  const std::string what = x.exit_what;
  for (const cell_ptr& l : links) send_exit(*l, *this, stop_reason_, what);
}

resumable::result actor_cell::suspend(turn t) noexcept {
  cell_extras& x = *extras_;
  x.suspended = true;
  fail_thrown();  // restarted in place: no `down` to wait for
  try {
    x.supervisor->enqueue_system(new message_envelope<child_exit>(
        x.child_exit_ops, child_exit{cell_ptr(this), stop_reason_, x.exit_what}));
  } catch (...) {
    x.final = true;  // cannot report: stop for good
    return final_stop(t);
  }
  return park(t, {});  // the supervisor answers with restart or terminate
}

void actor_cell::abandon() noexcept {
  stop_reason_ = exit_reason::killed;
  end_incarnation();
  turn t;
  t.user = 1;  // the construction token
  close_for_good(t);
}

void actor_cell::close_for_good(turn t) noexcept {
  if (spill_ != nullptr) t.user += spill_->shut_down();  // the spill's token, if it holds one
  // Closed first, so a watcher that sends on its `down` finds it closed;
  // then its names and metric series go (a watcher may bind a successor
  // to a name at once); then the `down`s, before any ask this stop fails:
  // a watcher learns of the stop before the failed replies (a dispatcher
  // routing on `down` sends nothing more to it).
  const std::uint64_t word = mailbox_.close();
  sys_->drop_names(this);
  if (extras_ != nullptr) {
    std::vector<watcher> watchers = std::move(extras_->watchers);
    extras_->watchers.clear();
    for (const watcher& w : watchers) send_down(*this, monitor_request{w.who, w.id, w.down_ops});
    extras_->monitoring.clear();
    fail_thrown();
  }
  drain(word, t);
}

resumable::result actor_cell::final_stop(turn t) noexcept {
  if (extras_ != nullptr) {
    for (envelope* e : extras_->unstashed) {
      sys_->count_drop(drop_reason::receiver_stopped, *e->ops->type);
      discard(e, ask_error::actor_stopped, "receiver stopped");
    }
    extras_->unstashed.clear();
    extras_->suspended = false;
  }
  close_for_good(t);
  if (extras_ != nullptr) extras_->supervisor = cell_ptr();
  if (executor_ != nullptr) executor_->finish();
  sys_->detach(this);  // may free *this
  return result::idle;
}

std::string actor_cell::exit_what() const { return extras_ != nullptr ? extras_->exit_what : std::string(); }

bool actor_cell::suspended() const noexcept { return extras_ != nullptr && extras_->suspended; }

void actor_cell::stash_current() {
  cell_extras& x = extras();
  const std::size_t cap = x.stash_capacity != 0 ? x.stash_capacity : mailbox_.capacity();
  if (x.stash.size() >= cap) throw std::length_error("troupe: stash is full (" + std::to_string(cap) + " messages)");
  x.stash_current = true;
}

void actor_cell::stash_take(envelope* e) noexcept {
  extras_->stash_current = false;
  try {
    extras_->stash.push_back(e);
  } catch (...) {
    sys_->count_drop(drop_reason::receiver_stopped, *e->ops->type);
    discard(e, ask_error::actor_stopped, "stash allocation failed");
  }
}

void actor_cell::unstash_all() {
  if (extras_ == nullptr || extras_->stash.empty()) return;
  // Stashed messages go before anything given back earlier and not yet run.
  for (auto it = extras_->stash.rbegin(); it != extras_->stash.rend(); ++it) extras_->unstashed.push_front(*it);
  extras_->stash.clear();
}

void actor_cell::supervise_by(const cell_ptr& sup, const message_ops* child_exit_ops,
                              std::function<void(actor_cell&)> rebuild) {
  cell_extras& x = extras();
  x.supervisor = sup;
  x.child_exit_ops = child_exit_ops;
  x.rebuild = std::move(rebuild);
}

void actor_cell::restart_incarnation() {
  if (extras_ == nullptr || !extras_->rebuild) return;
  if (instance_alive_) {
    // A running sibling restarted with the failed one (one_for_all, rest_for_one).
    stop_reason_ = exit_reason::stopped;
    end_incarnation();
  }
  extras_->suspended = false;
  extras_->exit_what.clear();
  stop_reason_ = exit_reason::normal;
  extras_->rebuild(*this);  // may throw: the new incarnation fails at once
  call_start();
}

void actor_cell::mark_final(exit_reason why, std::string what) noexcept {
  if (extras_ != nullptr) {
    extras_->final = true;
    if (extras_->suspended) {
      // Already stopped: the reported reason stays, this only ends the wait.
      extras_->suspended = false;
      stop_reason_ = why;
      if (!what.empty()) extras_->exit_what = std::move(what);
      stop_requested_ = true;
      return;
    }
  }
  request_stop(why);
}

void actor_cell::set_idle_timeout(std::chrono::steady_clock::duration period, std::function<void()> fire) {
  cell_extras& x = extras();
  x.idle_timer.cancel();
  x.idle_tracking = true;
  x.last_active_ns.store(steady_ns(), std::memory_order_relaxed);
  const auto period_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(period).count();
  cell_ptr me(this);
  x.idle_timer = sys_->timers().schedule_periodic(period, [me, period_ns, fire = std::move(fire)] {
    // Read without the actor's turn: an atomic stamp the actor writes per turn.
    const std::int64_t last = me->extras_if_any()->last_active_ns.load(std::memory_order_relaxed);
    if (steady_ns() - last >= period_ns) fire();
  });
}

} // namespace troupe::detail
