// Backpressure: senders muted on a full mute_sender mailbox (actors) or
// blocked on it (threads outside the system), and waking them once it has
// drained to its low-water mark. Every atomic says why its order suffices.
#include <algorithm>

#include "cell_internals.hpp"
#include "spill_box.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe::detail {

// The consumer reads mute_list_ before it ends a turn (after that it may no
// longer touch the cell). A list created in between is missed by that turn,
// however long the consumer is preempted before its finish: so waiters
// re-check on their own, 1 ms after, then twice as long each time, until a
// consumer turn has seen the list.
constexpr auto first_mute_recheck = std::chrono::milliseconds(1);
constexpr auto last_mute_recheck = std::chrono::milliseconds(64);

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

void actor_cell::mute_on(actor_cell* receiver) noexcept {
  if (muted_on_ != nullptr) return;
  receiver->add_ref();
  muted_on_ = receiver;
}

mute_list& actor_cell::ensure_mute_list(bool* created) {
  // acquire: a list another thread made is seen whole.
  mute_list* ml = mute_list_.load(std::memory_order_acquire);
  if (ml != nullptr) return *ml;
  auto* fresh = new mute_list();
  // seq_cst: against the consumer's seq_cst load after its finish
  // (wake_muted_if_drained): either it sees the list, or our re-check runs.
  if (mute_list_.compare_exchange_strong(ml, fresh, std::memory_order_seq_cst)) {
    if (created != nullptr) *created = true;
    return *fresh;
  }
  delete fresh;
  return *ml;
}

void actor_cell::recheck_muted_after(std::chrono::milliseconds delay) {
  sys_->timers().schedule_after(delay, [me = cell_ptr(this), delay] {
    me->wake_muted();
    // acquire: the list is whole; `seen` pairs with the consumer's release
    // store; `waiting` seq_cst as everywhere it decides a wake-up.
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
    // seq_cst, then the depth: the consumer finishes (seq_cst), then loads
    // `waiting`. Either it sees us and wakes us, or we see it drained.
    ml.waiting.fetch_add(1, std::memory_order_seq_cst);
    if (mailbox_.is_closed() || mailbox_.depth() <= mailbox_.low_water()) {
      ml.waiting.fetch_sub(1, std::memory_order_relaxed);  // under the lock: nobody woke us meanwhile
      return false;
    }
    ml.actors.push_back(sender);
  }
  sys_->count_mute();
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
      ml.waiting.fetch_add(1, std::memory_order_seq_cst);  // as in add_muted
      if (mailbox_.is_closed() || mailbox_.depth() <= mailbox_.low_water()) {
        ml.waiting.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      ml.threads.push_back(sem);
    }
    sys_->count_mute();
    // acquire, with the consumer's release store: once set, every turn end
    // of the consumer checks `waiting`, so no re-check is needed.
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
    ml->waiting.store(0, std::memory_order_relaxed);  // under the lock every waiter adds under
  }
  for (const cell_ptr& a : actors) a->unpark();  // no-op when a system message already woke it
  for (const auto& t : threads) t->release();
}

void actor_cell::wake_muted_if_drained(std::uint64_t left) noexcept {
  // Loaded after the finish (seq_cst, like the waiter's creation of the
  // list and its count): a list made before the finish is seen here, so
  // no 1 ms re-check is needed for this turn's drain.
  mute_list* ml = mute_list_.load(std::memory_order_seq_cst);
  if (ml == nullptr) return;
  // relaxed: only this turn's consumer writes it; release: see wait_for_room.
  if (!ml->seen.load(std::memory_order_relaxed)) ml->seen.store(true, std::memory_order_release);
  if (mailbox::pending(left) <= mailbox_.low_water() && ml->waiting.load(std::memory_order_seq_cst) != 0) wake_muted();
}

resumable::result actor_cell::park(turn t, const cell_ptr& wait_on) noexcept {
  // From now on only unpark() (a system message, the receiver draining)
  // schedules this actor.
  cell_ptr keep(this);  // another worker may run (and stop) it once parked
  return park_until(t, [&] { return !wait_on || wait_on->add_muted(keep); });
}

} // namespace troupe::detail
