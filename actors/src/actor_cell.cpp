#include "troupe/actors/detail/actor_cell.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/demangle.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "spill_box.hpp"
#include "troupe/actors/signals.hpp"
#include "system_messages.hpp"

namespace troupe::detail {

namespace {
thread_local actor_cell* tls_current = nullptr;
thread_local actor_cell* tls_constructing = nullptr;
thread_local bool tls_never_block = false;
thread_local reply_slot_base* tls_pending_reply = nullptr;

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// -- stop / start ---------------------------------------------------------------
void invoke_stop(actor_cell& self, envelope* e) {
  auto* me = static_cast<message_envelope<exit_reason>*>(e);
  const exit_reason why = me->value;
  delete me;
  if (self.suspended()) return;  // already stopped; its supervisor decides
  self.request_stop(why);
}
constexpr message_ops stop_ops{&invoke_stop, &destroy_envelope<exit_reason>, &typeid(exit_reason), nullptr};

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
    std::erase_if(x->watchers, [&](const watcher& w) { return w.who.get() == me->value.watcher && w.id == me->value.id; });
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

actor_cell* current_cell() noexcept { return tls_current; }
reply_slot_base*& pending_reply() noexcept { return tls_pending_reply; }
actor_cell*& constructing_cell() noexcept { return tls_constructing; }

never_block_scope::never_block_scope() noexcept : prev(tls_never_block) { tls_never_block = true; }
never_block_scope::~never_block_scope() { tls_never_block = prev; }

envelope* make_stop_envelope(exit_reason why) { return new message_envelope<exit_reason>(&stop_ops, why); }
envelope* make_start_envelope() { return new message_envelope<start_tag>(&start_ops); }
envelope* make_restart_envelope() { return new message_envelope<start_tag>(&restart_ops); }
envelope* make_terminate_envelope(exit_reason why, std::string what) {
  return new message_envelope<terminate_cmd>(&terminate_ops, terminate_cmd{why, std::move(what)});
}

/// Senders waiting for a full mute_sender mailbox to drain.
struct mute_list {
  std::mutex mx;
  std::vector<cell_ptr> actors;                        // muted actors (parked, or stale: unpark is a no-op)
  std::vector<std::shared_ptr<std::binary_semaphore>> threads;  // blocked threads outside the system
  std::atomic<std::uint32_t> waiting{0};
  /// A consumer turn has read this list (and so checks `waiting` after its
  /// finish): from then on no waiter needs the timed re-check.
  std::atomic<bool> seen{false};
};

actor_cell::actor_cell(system_core* sys, const mailbox_options& opts) : mailbox_(opts), sys_(sys) {}

actor_cell::~actor_cell() {
  // Normally drained at stop; a cell that never ran may still hold messages.
  while (auto* n = mailbox_.pop_system()) discard(static_cast<envelope*>(n), ask_error::actor_stopped, "receiver stopped");
  while (auto* n = mailbox_.pop()) discard(static_cast<envelope*>(n), ask_error::actor_stopped, "receiver stopped");
  if (extras_ != nullptr) {
    for (envelope* e : extras_->stash) discard(e, ask_error::actor_stopped, "receiver stopped");
    for (envelope* e : extras_->unstashed) discard(e, ask_error::actor_stopped, "receiver stopped");
  }
  if (muted_on_ != nullptr) muted_on_->release();
  delete mute_list_.load(std::memory_order_acquire);
  delete extras_;
  delete spill_;
}

std::string actor_cell::type_name() const { return demangle(type()); }

cell_extras& actor_cell::extras() {
  if (extras_ == nullptr) extras_ = new cell_extras();
  return *extras_;
}

void actor_cell::schedule_hot() noexcept {
  if (executor_ != nullptr) {
    executor_->notify_hot();
  } else {
    sys_->pool().schedule_hot(this);
  }
}

void actor_cell::schedule() noexcept {
  if (executor_ != nullptr) {
    executor_->notify();
  } else {
    sys_->pool().schedule(this);
  }
}

void actor_cell::enqueue_system(envelope* e) noexcept {
  switch (mailbox_.push_system(e)) {
    case admission::accepted_schedule: schedule(); break;
    case admission::closed: system_undeliverable(e); break;
    default: unpark(); break;  // a parked actor (muted, suspended) still serves its system lane
  }
}

void actor_cell::system_undeliverable(envelope* e) noexcept {
  if (e->ops->undelivered != nullptr) {
    e->ops->undelivered(*this, e);
  } else {
    discard(e, ask_error::actor_stopped, "receiver stopped");
  }
}

bool actor_cell::unpark() noexcept {
  // Pairs with park(): it stores parked_, then reads system_waiting(); a
  // system sender raised system_pending_ (seq_cst) before calling this, and
  // a receiver draining calls it after its finish. One of us sees the other.
  if (!parked_.load(std::memory_order_seq_cst) || !parked_.exchange(false, std::memory_order_acq_rel)) return false;
  schedule();
  return true;
}

send_result actor_cell::accepted_over_bound() noexcept {
  actor_cell* cur = tls_current;
  if (cur == this) return send_result::ok;  // never mute an actor on itself
  if (cur != nullptr && cur->mailbox_.depth() > cur->mailbox_.low_water()) {
    // The sender is under pressure itself: muting it could deadlock a
    // cycle of full mailboxes (A waits for B, B for A). Accept over the bound.
    return send_result::ok;
  }
  if (cur != nullptr) {
    cur->mute_on(this);
    return send_result::muted;
  }
  if (!tls_never_block) wait_for_room();
  return send_result::ok;
}

send_result actor_cell::enqueue_slow(envelope* e, admission a) noexcept {
  switch (a) {
    case admission::accepted_over: return accepted_over_bound();
    case admission::refused: {
      if (spill_ != nullptr) return spill_offer(e);
      if (!mailbox_.bounded() || mailbox_.policy() == overflow::mute_sender) {
        // Neither refuses by policy: this mailbox holds mailbox::hard_limit messages.
        sys_->count_drop(drop_reason::mailbox_full, *e->ops->type);
        discard(e, ask_error::mailbox_full, "mailbox full (2^30 pending messages, the hard limit)");
        return send_result::full;
      }
      const bool fail_policy = mailbox_.policy() == overflow::fail;
      sys_->count_drop(fail_policy ? drop_reason::mailbox_full : drop_reason::dropped_newest, *e->ops->type);
      discard(e, ask_error::mailbox_full, fail_policy ? "mailbox full" : "dropped: mailbox full (drop_newest)");
      return fail_policy ? send_result::full : send_result::dropped;
    }
    case admission::closed:
      // stop_reason_ was written before the close that this push observed.
      dead_letter(e);
      return send_result::dead;
    default: return send_result::ok;
  }
}

void actor_cell::enqueue_chain(envelope* first, std::uint32_t count) noexcept {
  switch (mailbox_.push_chain(first, count)) {
    case admission::accepted: return;
    case admission::accepted_schedule: schedule_hot(); return;
    case admission::accepted_over: (void)accepted_over_bound(); return;
    default: break;
  }
  // A refusing bound, or closed: decide per message.
  for (envelope* e = first; count-- > 0;) {
    auto* next = static_cast<envelope*>(e->next.load(std::memory_order_relaxed));  // before e is handed over
    (void)enqueue(e);
    e = next;
  }
}

mailbox_metrics actor_cell::metrics() const {
  mailbox_metrics m;
  m.depth = mailbox_.depth();
  m.capacity = mailbox_.bounded() ? mailbox_.capacity() : 0;
  m.closed = mailbox_.is_closed();
  if (mute_list* ml = mute_list_.load(std::memory_order_acquire)) m.muted_senders = ml->waiting.load(std::memory_order_relaxed);
  if (spill_ != nullptr) {
    const auto s = spill_->stats();
    if (s.token && m.depth > 0) --m.depth;  // the spill's own place-holder, not a message
    m.spill = {s.spilled, s.spilled_bytes, s.unspooled, s.on_disk, s.disk_bytes, s.max_disk_bytes, s.held, s.refused,
               s.corrupt, s.discarded};
  }
  return m;
}

void actor_cell::attach_spill(const spill_options& o, std::vector<message_decoder> accepts) {
  spill_ = new spill_box(*this, o, std::move(accepts));
}

send_result actor_cell::spill_offer(envelope* e) noexcept {
  for (;;) {
    bool schedule_me = false;
    const auto out = spill_->offer(e, schedule_me);
    if (schedule_me) schedule();
    switch (out) {
      case spill_box::outcome::spilled: return send_result::ok;
      case spill_box::outcome::held: {
        // Behind a full disk (or not serialisable): the sender waits, as
        // with mute_sender.
        actor_cell* cur = tls_current;
        if (cur == this) return send_result::ok;
        if (cur != nullptr) {
          cur->mute_on(this);
          return send_result::muted;
        }
        if (!tls_never_block) spill_->wait_until_drained();
        return send_result::ok;
      }
      case spill_box::outcome::full:
        sys_->count_drop(drop_reason::mailbox_full, *e->ops->type);
        discard(e, ask_error::mailbox_full, "mailbox full (spill disk full)");
        return send_result::full;
      case spill_box::outcome::closed:
        dead_letter(e);
        return send_result::dead;
      case spill_box::outcome::retry: {
        const admission a = mailbox_.push(e);
        if (a == admission::accepted) return send_result::ok;
        if (a == admission::accepted_schedule) {
          schedule_hot();
          return send_result::ok;
        }
        if (a == admission::refused) continue;
        return enqueue_slow(e, a);
      }
    }
  }
}

void actor_cell::mute_on(actor_cell* receiver) noexcept {
  if (muted_on_ != nullptr) return;
  receiver->add_ref();
  muted_on_ = receiver;
}

mute_list& actor_cell::ensure_mute_list(bool* created) {
  mute_list* ml = mute_list_.load(std::memory_order_acquire);
  if (ml != nullptr) return *ml;
  auto* fresh = new mute_list();
  if (mute_list_.compare_exchange_strong(ml, fresh, std::memory_order_seq_cst)) {
    if (created != nullptr) *created = true;
    return *fresh;
  }
  delete fresh;
  return *ml;
}

// The consumer reads mute_list_ before it ends a turn (after that it may no
// longer touch the cell). A list created in between is missed by that turn,
// however long the consumer is preempted before its finish: so waiters
// re-check on their own, 1 ms after, then twice as long each time, until a
// consumer turn has seen the list.
constexpr auto first_mute_recheck = std::chrono::milliseconds(1);
constexpr auto last_mute_recheck = std::chrono::milliseconds(64);

void actor_cell::recheck_muted_after(std::chrono::milliseconds delay) {
  sys_->timers().schedule_after(delay, [me = cell_ptr(this), delay] {
    me->wake_muted();
    mute_list* ml = me->mute_list_.load(std::memory_order_acquire);
    if (ml == nullptr || ml->seen.load(std::memory_order_acquire) || ml->waiting.load(std::memory_order_seq_cst) == 0) {
      return;
    }
    try {
      me->recheck_muted_after(std::min(delay * 2, last_mute_recheck));
    } catch (...) {
      // No timer: the next turn of the consumer wakes them.
    }
  });
}

bool actor_cell::add_muted(const cell_ptr& sender) {
  bool created = false;
  mute_list& ml = ensure_mute_list(&created);
  {
    std::lock_guard lock(ml.mx);
    ml.waiting.fetch_add(1, std::memory_order_seq_cst);
    if (mailbox_.is_closed() || mailbox_.depth() <= mailbox_.low_water()) {
      ml.waiting.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    ml.actors.push_back(sender);
  }
  if (created) {
    try {
      // Wakes the muted senders if this mailbox has drained by then
      // (wake_muted checks), and again later until a turn has seen the list.
      recheck_muted_after(first_mute_recheck);
    } catch (...) {
      return false;  // cannot arrange the re-check: do not wait at all
    }
  }
  return true;
}

void actor_cell::wait_for_room() {
  mute_list& ml = ensure_mute_list();
  auto recheck = first_mute_recheck;
  for (;;) {
    // Shared: the waker may still be inside release() when we return.
    auto sem = std::make_shared<std::binary_semaphore>(0);
    {
      std::lock_guard lock(ml.mx);
      ml.waiting.fetch_add(1, std::memory_order_seq_cst);
      if (mailbox_.is_closed() || mailbox_.depth() <= mailbox_.low_water()) {
        ml.waiting.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      ml.threads.push_back(sem);
    }
    if (ml.seen.load(std::memory_order_acquire)) {
      sem->acquire();
      continue;
    }
    // No consumer turn has seen the list yet: look again in a while, in
    // case the consumer went idle without it.
    if (sem->try_acquire_for(recheck)) continue;
    recheck = std::min(recheck * 2, last_mute_recheck);
    bool still_listed = false;
    {
      std::lock_guard lock(ml.mx);
      if (auto it = std::find(ml.threads.begin(), ml.threads.end(), sem); it != ml.threads.end()) {
        ml.threads.erase(it);
        still_listed = true;
      }
    }
    if (!still_listed) sem->acquire();  // a wake-up is on its way: take it
  }
}

void actor_cell::wake_muted() noexcept {
  mute_list* ml = mute_list_.load(std::memory_order_acquire);
  if (ml == nullptr) return;
  std::vector<cell_ptr> actors;
  std::vector<std::shared_ptr<std::binary_semaphore>> threads;
  {
    std::lock_guard lock(ml->mx);
    // Senders may have filled the mailbox again since the caller looked:
    // wake nobody into a full mailbox (the consumer will come back here).
    if (!mailbox_.is_closed() && (mailbox_.depth() > mailbox_.low_water() || (spill_ != nullptr && spill_->holding()))) {
      return;
    }
    actors.swap(ml->actors);
    threads.swap(ml->threads);
    ml->waiting.store(0, std::memory_order_relaxed);
  }
  for (const cell_ptr& a : actors) a->unpark();  // no-op when a system message already woke it
  for (const auto& t : threads) t->release();
}

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

void actor_cell::trim_oldest(std::uint64_t& consumed) noexcept {
  while (mailbox_.queued() > mailbox_.capacity()) {
    auto* e = static_cast<envelope*>(mailbox_.pop());
    if (e == nullptr) return;
    ++consumed;
    sys_->count_drop(drop_reason::dropped_oldest, *e->ops->type);
    discard(e, ask_error::mailbox_full, "dropped: mailbox full (drop_oldest)");
  }
}

resumable::result actor_cell::resume() {
  actor_cell* prev = std::exchange(tls_current, this);
  turn t = start_turn();
  const std::size_t quantum = sys_->quantum();
  const bool trims = mailbox_.bounded() && mailbox_.policy() == overflow::drop_oldest;
  std::size_t handled = 0;
  while (handled < quantum) {
    auto* e = static_cast<envelope*>(mailbox_.pop_system());
    if (e != nullptr) {
      ++t.system;
    } else if (extras_ != nullptr && (extras_->suspended || !extras_->unstashed.empty())) [[unlikely]] {
      if (extras_->suspended) break;  // between incarnations: only the system lane is served
      e = extras_->unstashed.front();
      extras_->unstashed.pop_front();
      ++handled;
    } else {
      if (trims) trim_oldest(t.user);
      e = static_cast<envelope*>(mailbox_.pop());
      if (e != nullptr) {
        ++t.user;
      } else if (spill_ != nullptr) [[unlikely]] {
        // Memory gave nothing: the spilled messages, oldest first (once no
        // message is still being linked into memory).
        bool released = false;
        e = spill_->next(t.user, released);
        if (released) ++t.user;  // the spill's token
        if (e == nullptr) break;
      } else {
        break;
      }
      ++handled;
    }
    try {
      e->ops->invoke(*this, e);
    } catch (const std::exception& ex) {
      fail(ex.what());
    } catch (...) {
      fail("unknown exception");
    }
    if (stop_requested_ || muted_on_ != nullptr) break;
  }
  if (extras_ != nullptr && extras_->idle_tracking) extras_->last_active_ns.store(steady_ns(), std::memory_order_relaxed);
  tls_current = prev;
  if (stop_requested_) return end_of_life(t);
  if (extras_ != nullptr && extras_->suspended) return park(t, {});
  return finish_turn(t);
}

resumable::result actor_cell::finish_turn(turn t) noexcept {
  if (actor_cell* target = std::exchange(muted_on_, nullptr)) {
    return park(t, cell_ptr::adopt(target));  // adopts the reference mute_on took
  }
  // Unstashed messages are no longer counted in the depth word: while any
  // are left (the quantum ran out among them), keep a token so this actor
  // runs again instead of going idle.
  const bool unstashed_left = extras_ != nullptr && !extras_->unstashed.empty();
  holding_token_ = unstashed_left;
  if (mute_list_.load(std::memory_order_acquire) == nullptr) {
    // Once finish() reports 0 another worker may run (or stop) this actor:
    // nothing below may touch *this. (A list made meanwhile is covered by
    // its waiters' own re-checks.)
    return mailbox_.finish(t.user, t.system, unstashed_left) != 0 ? result::yield : result::idle;
  }
  cell_ptr keep(this);  // alive for the wake-up, though another worker may run it after the finish
  return finish_and_wake(t, unstashed_left) != 0 ? result::yield : result::idle;
}

void actor_cell::wake_muted_if_drained(std::uint64_t left) noexcept {
  // Loaded after the finish (seq_cst, like the waiter's creation of the
  // list and its count): a list made before the finish is seen here, so
  // no 1 ms re-check is needed for this turn's drain.
  mute_list* ml = mute_list_.load(std::memory_order_seq_cst);
  if (ml == nullptr) return;
  if (!ml->seen.load(std::memory_order_relaxed)) ml->seen.store(true, std::memory_order_release);
  if (mailbox::pending(left) <= mailbox_.low_water() && ml->waiting.load(std::memory_order_seq_cst) != 0) wake_muted();
}

resumable::result actor_cell::park(turn t, const cell_ptr& wait_on) noexcept {
  // From now on only unpark() (a system message, the receiver draining)
  // schedules this actor.
  cell_ptr keep(this);  // another worker may run (and stop) it once parked
  return park_until(t, [&] { return !wait_on || wait_on->add_muted(keep); });
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
  for (auto& [id, p] : x.asks) p->timeout.cancel();
  x.asks.clear();
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
  close_and_drain(t);
  if (extras_ == nullptr) return;
  std::vector<watcher> watchers = std::move(extras_->watchers);
  extras_->watchers.clear();
  for (const watcher& w : watchers) send_down(*this, monitor_request{w.who, w.id, w.down_ops});
  extras_->monitoring.clear();
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

void complete_ask(actor_cell& self, std::uint64_t id, void* r) {
  cell_extras* x = self.extras_if_any();
  if (x == nullptr) {
    self.system().count_drop(drop_reason::late_reply, typeid(void));
    return;
  }
  auto it = x->asks.find(id);
  if (it == x->asks.end()) {
    self.system().count_drop(drop_reason::late_reply, typeid(void));
    return;
  }
  std::unique_ptr<pending_ask_base> p = std::move(it->second);
  x->asks.erase(it);
  p->timeout.cancel();
  p->complete(r);
}

envelope* actor_cell::external_pop() noexcept {
  while (auto* s = static_cast<envelope*>(mailbox_.pop_system())) {
    system_undeliverable(s);  // an inbox has no system lane: monitors see it as gone
    mailbox_.finish(0, 1);
  }
  auto* e = static_cast<envelope*>(mailbox_.pop());
  if (e != nullptr) (void)finish_and_wake(turn{.user = 1}, /*hold=*/false);  // the inbox's owner keeps the cell
  return e;
}

void actor_cell::external_close() noexcept { close_and_drain(turn{}); }

void actor_cell::dead_letter(envelope* e) noexcept {
  // A cell closed because its node is gone (a remote proxy) says so.
  if (stop_reason_ == exit_reason::node_down) {
    sys_->count_drop(drop_reason::node_down, *e->ops->type);
    discard(e, ask_error::node_down, "the receiver's node is down");
  } else {
    sys_->count_drop(drop_reason::receiver_stopped, *e->ops->type);
    discard(e, ask_error::actor_stopped, "receiver stopped");
  }
}

void actor_cell::close_and_drain(turn t) noexcept {
  // Close, then account for every message admitted before the close.
  const std::uint64_t word = mailbox_.close();
  std::uint64_t left = mailbox::pending(word) - t.user - t.system;
  while (left > 0) {
    if (auto* e = static_cast<envelope*>(mailbox_.pop_system())) {
      --left;
      system_undeliverable(e);
    } else if (auto* u = static_cast<envelope*>(mailbox_.pop())) {
      --left;
      dead_letter(u);
    } else {
      std::this_thread::yield();  // a sender is between its two steps
    }
  }
  if (mute_list_.load(std::memory_order_acquire) != nullptr) wake_muted();
}

} // namespace troupe::detail
