#include "troupe/actors/detail/actor_cell.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe::detail {

namespace {
thread_local actor_cell* tls_current = nullptr;
thread_local actor_cell* tls_constructing = nullptr;
thread_local bool tls_never_block = false;

void invoke_stop(actor_cell& self, envelope* e) {
  auto* me = static_cast<message_envelope<exit_reason>*>(e);
  const exit_reason why = me->value;
  delete me;
  self.request_stop(why);
}
constexpr message_ops stop_ops{&invoke_stop, &destroy_envelope<exit_reason>, &typeid(exit_reason)};

struct start_tag {};
void invoke_start(actor_cell& self, envelope* e) {
  delete static_cast<message_envelope<start_tag>*>(e);
  self.call_start();
}
constexpr message_ops start_ops{&invoke_start, &destroy_envelope<start_tag>, &typeid(start_tag)};
} // namespace

actor_cell* current_cell() noexcept { return tls_current; }
actor_cell*& constructing_cell() noexcept { return tls_constructing; }

never_block_scope::never_block_scope() noexcept : prev(tls_never_block) { tls_never_block = true; }
never_block_scope::~never_block_scope() { tls_never_block = prev; }
bool never_block() noexcept { return tls_never_block; }

envelope* make_stop_envelope(exit_reason why) { return new message_envelope<exit_reason>(&stop_ops, why); }
envelope* make_start_envelope() { return new message_envelope<start_tag>(&start_ops); }

/// Senders waiting for a full mute_sender mailbox to drain.
struct mute_list {
  std::mutex mx;
  std::vector<cell_ptr> actors;                        // muted actors (parked, or stale: unpark is a no-op)
  std::vector<std::binary_semaphore*> threads;         // blocked threads outside the system
  std::atomic<std::uint32_t> waiting{0};
};

actor_cell::actor_cell(system_core* sys, const mailbox_options& opts) : mailbox_(opts), sys_(sys) {}

actor_cell::~actor_cell() {
  // Normally drained at stop; an inbox or a cell that never ran may still hold messages.
  while (auto* n = mailbox_.pop_system()) discard(static_cast<envelope*>(n), ask_error::actor_stopped, "receiver stopped");
  while (auto* n = mailbox_.pop()) discard(static_cast<envelope*>(n), ask_error::actor_stopped, "receiver stopped");
  if (muted_on_ != nullptr) muted_on_->release();
  delete mute_list_.load(std::memory_order_acquire);
  delete extras_;
}

std::string actor_cell::type_name() const {
  const char* mangled = type().name();
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = (status == 0 && d != nullptr) ? d : mangled;
  std::free(d);
  return out;
}

cell_extras& actor_cell::extras() {
  if (extras_ == nullptr) extras_ = new cell_extras();
  return *extras_;
}

void actor_cell::schedule_hot() noexcept {
  if (executor_ != nullptr) {
    executor_->notify();
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
    case admission::closed: discard(e, ask_error::actor_stopped, "receiver stopped"); break;
    default: unpark(); break;  // a parked actor (muted, suspended) still serves its system lane
  }
}

bool actor_cell::unpark() noexcept {
  // Pairs with park(): it stores parked_ then finishes (an RMW on the depth);
  // we pushed (an RMW on the depth) then load parked_. One of us sees the other.
  if (!parked_.load(std::memory_order_seq_cst) || !parked_.exchange(false, std::memory_order_acq_rel)) return false;
  schedule();
  return true;
}

send_result actor_cell::enqueue_slow(envelope* e, admission a) noexcept {
  switch (a) {
    case admission::accepted_over: {
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
    case admission::refused: {
      const bool fail_policy = mailbox_.policy() == overflow::fail;
      sys_->count_drop(fail_policy ? drop_reason::mailbox_full : drop_reason::dropped_newest, *e->ops->type);
      discard(e, ask_error::mailbox_full, fail_policy ? "mailbox full" : "dropped: mailbox full (drop_newest)");
      return fail_policy ? send_result::full : send_result::dropped;
    }
    case admission::closed:
      sys_->count_drop(drop_reason::receiver_stopped, *e->ops->type);
      discard(e, ask_error::actor_stopped, "receiver stopped");
      return send_result::dead;
    default: return send_result::ok;
  }
}

void actor_cell::mute_on(actor_cell* receiver) noexcept {
  if (muted_on_ != nullptr) return;
  receiver->add_ref();
  muted_on_ = receiver;
}

mute_list& actor_cell::ensure_mute_list() {
  mute_list* ml = mute_list_.load(std::memory_order_acquire);
  if (ml != nullptr) return *ml;
  auto* fresh = new mute_list();
  if (mute_list_.compare_exchange_strong(ml, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *ml;
}

bool actor_cell::add_muted(const cell_ptr& sender) {
  mute_list& ml = ensure_mute_list();
  std::lock_guard lock(ml.mx);
  ml.waiting.fetch_add(1, std::memory_order_seq_cst);
  if (mailbox_.is_closed() || mailbox_.depth() <= mailbox_.low_water()) {
    ml.waiting.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  ml.actors.push_back(sender);
  return true;
}

void actor_cell::wait_for_room() {
  mute_list& ml = ensure_mute_list();
  for (;;) {
    std::binary_semaphore sem{0};
    {
      std::lock_guard lock(ml.mx);
      ml.waiting.fetch_add(1, std::memory_order_seq_cst);
      if (mailbox_.is_closed() || mailbox_.depth() <= mailbox_.low_water()) {
        ml.waiting.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      ml.threads.push_back(&sem);
    }
    sem.acquire();
  }
}

void actor_cell::wake_muted() noexcept {
  mute_list* ml = mute_list_.load(std::memory_order_acquire);
  if (ml == nullptr) return;
  std::vector<cell_ptr> actors;
  std::vector<std::binary_semaphore*> threads;
  {
    std::lock_guard lock(ml->mx);
    actors.swap(ml->actors);
    threads.swap(ml->threads);
    ml->waiting.store(0, std::memory_order_relaxed);
  }
  for (const cell_ptr& a : actors) a->unpark();  // no-op when a system message already woke it
  for (std::binary_semaphore* t : threads) t->release();
}

void actor_cell::fail(const char* what) noexcept {
  sys_->log_failure(*this, what);
  request_stop(exit_reason::exception);
}

void actor_cell::trim_oldest(std::uint64_t& consumed) noexcept {
  while (mailbox_.depth() - consumed > mailbox_.capacity()) {
    auto* e = static_cast<envelope*>(mailbox_.pop());
    if (e == nullptr) return;
    ++consumed;
    sys_->count_drop(drop_reason::dropped_oldest, *e->ops->type);
    discard(e, ask_error::mailbox_full, "dropped: mailbox full (drop_oldest)");
  }
}

resumable::result actor_cell::resume() {
  actor_cell* prev = std::exchange(tls_current, this);
  turn t;
  t.user = holding_token_ ? 1 : 0;  // a held token is released with this turn
  holding_token_ = false;
  const std::size_t quantum = sys_->quantum();
  const bool trims = mailbox_.bounded() && mailbox_.policy() == overflow::drop_oldest;
  std::size_t handled = 0;
  while (handled < quantum) {
    auto* e = static_cast<envelope*>(mailbox_.pop_system());
    if (e != nullptr) {
      ++t.system;
    } else {
      if (trims) trim_oldest(t.user);
      e = static_cast<envelope*>(mailbox_.pop());
      if (e == nullptr) break;
      ++handled;
      ++t.user;
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
  tls_current = prev;
  if (stop_requested_) return stop_now(t);
  return finish_turn(t);
}

resumable::result actor_cell::finish_turn(turn t) noexcept {
  if (actor_cell* target = std::exchange(muted_on_, nullptr)) {
    return park(t, cell_ptr::adopt(target));  // adopts the reference mute_on took
  }
  mute_list* ml = mute_list_.load(std::memory_order_acquire);
  if (ml == nullptr) {
    // Once finish() reports 0 another worker may run (or stop) this actor:
    // nothing below may touch *this.
    return mailbox_.finish(t.user, t.system) != 0 ? result::yield : result::idle;
  }
  cell_ptr keep(this);
  const std::uint64_t left = mailbox_.finish(t.user, t.system);
  if (mailbox::user_part(left) <= mailbox_.low_water() && ml->waiting.load(std::memory_order_seq_cst) != 0) {
    wake_muted();
  }
  return left != 0 ? result::yield : result::idle;
}

resumable::result actor_cell::park(turn t, const cell_ptr& wait_on) noexcept {
  // Keep one token so no sender schedules us: from now on only unpark()
  // (a system message, the receiver draining) schedules this actor.
  holding_token_ = true;
  cell_ptr keep(this);
  parked_.store(true, std::memory_order_seq_cst);
  // Another worker may run this actor from here on: touch only atomics.
  const std::uint64_t left = mailbox_.finish(t.user, t.system, /*hold=*/true);
  bool waiting = true;
  if (wait_on) waiting = wait_on->add_muted(keep);
  if (!waiting || mailbox::has_system(left)) {
    // Nothing to wait for after all, or a system message slipped in before
    // we parked: run again unless somebody else already unparked us.
    if (parked_.exchange(false, std::memory_order_acq_rel)) return result::yield;
  }
  return result::idle;
}

resumable::result actor_cell::stop_now(turn t) noexcept {
  actor_cell* prev = std::exchange(tls_current, this);
  stopped_ = true;
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
  if (extras_ != nullptr) {
    for (auto& t : extras_->timers) t.cancel();
    for (auto& [id, p] : extras_->asks) p->timeout.cancel();
    extras_->asks.clear();
    extras_->timers.clear();
  }
  close_and_drain(t);
  if (executor_ != nullptr) executor_->finish();
  sys_->detach(this, stop_reason_);  // may free *this
  return result::idle;
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
    discard(s, ask_error::actor_stopped, "an inbox has no system lane");
    mailbox_.finish(0, 1);
  }
  auto* e = static_cast<envelope*>(mailbox_.pop());
  if (e != nullptr) {
    const std::uint64_t left = mailbox_.finish(1);
    if (mute_list_.load(std::memory_order_acquire) != nullptr && left <= mailbox_.low_water()) wake_muted();
  }
  return e;
}

void actor_cell::external_close() noexcept { close_and_drain(turn{}); }

void actor_cell::close_and_drain(turn t) noexcept {
  // Close, then account for every message admitted before the close.
  const std::uint64_t word = mailbox_.close();
  std::uint64_t users = mailbox::user_part(word) - t.user;
  std::uint64_t systems = mailbox::system_part(word) - t.system;
  while (users + systems > 0) {
    if (auto* e = static_cast<envelope*>(mailbox_.pop_system())) {
      --systems;
      discard(e, ask_error::actor_stopped, "receiver stopped");
    } else if (auto* u = static_cast<envelope*>(mailbox_.pop())) {
      --users;
      sys_->count_drop(drop_reason::receiver_stopped, *u->ops->type);
      discard(u, ask_error::actor_stopped, "receiver stopped");
    } else {
      std::this_thread::yield();  // a sender is between its two steps
    }
  }
  if (mute_list_.load(std::memory_order_acquire) != nullptr) wake_muted();
}

} // namespace troupe::detail
