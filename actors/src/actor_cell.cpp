#include "troupe/actors/detail/actor_cell.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <stdexcept>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

#include "cell_internals.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/demangle.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "spill_box.hpp"
#include "troupe/actors/signals.hpp"
#include "system_messages.hpp"
#include "troupe/detail/logger.hpp"

namespace troupe::detail {

thread_local actor_cell* tls_current = nullptr;
thread_local bool tls_never_block = false;

namespace {
thread_local actor_cell* tls_constructing = nullptr;
thread_local reply_slot_base* tls_pending_reply = nullptr;

// Which of the system's messages-processed counters this thread adds to:
// threads take them round-robin, so two workers rarely share a cache line.
std::atomic<std::size_t> next_counter_slot{0};
thread_local std::size_t tls_counter_slot = static_cast<std::size_t>(-1);
std::size_t counter_slot() noexcept {
  if (tls_counter_slot == static_cast<std::size_t>(-1)) [[unlikely]] {
    tls_counter_slot = next_counter_slot.fetch_add(1, std::memory_order_relaxed);
  }
  return tls_counter_slot;
}
} // namespace

actor_cell* current_cell() noexcept { return tls_current; }

namespace {
/// Logs a throwing on_message_span hook, at most once a second (it runs per message).
void span_hook_failed(const char* what) noexcept {
  static std::atomic<std::int64_t> next_ns{0};
  const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  std::int64_t due = next_ns.load(std::memory_order_relaxed);
  if (now < due || !next_ns.compare_exchange_strong(due, now + 1'000'000'000)) return;
  try {
    logger().error("troupe: system_config::on_message_span threw: {} (the span is lost; the actor goes on)", what);
  } catch (...) {
  }
}
} // namespace

std::uint32_t stamp_gap(std::uint32_t every) noexcept {
  if (every <= 1) return 1;
  return 1 + static_cast<std::uint32_t>(random_u64() % (2 * std::uint64_t{every} - 1));  // 1 .. 2*every-1
}
reply_slot_base*& pending_reply() noexcept { return tls_pending_reply; }
actor_cell*& constructing_cell() noexcept { return tls_constructing; }

never_block_scope::never_block_scope() noexcept : prev(tls_never_block) { tls_never_block = true; }
never_block_scope::~never_block_scope() { tls_never_block = prev; }

actor_cell::actor_cell(system_core* sys, const mailbox_options& opts) : mailbox_(opts), sys_(sys) {}

actor_cell::~actor_cell() {
  // Normally drained at stop; a cell that never ran may still hold messages.
  while (auto* n = mailbox_.pop_system()) discard(static_cast<envelope*>(n), ask_error::actor_stopped, "receiver stopped");
  while (auto* n = mailbox_.pop()) discard(static_cast<envelope*>(n), ask_error::actor_stopped, "receiver stopped");
  if (extras_ != nullptr) {
    for (envelope* e : extras_->stash) discard(e, ask_error::actor_stopped, "receiver stopped");
    for (envelope* e : extras_->unstashed) discard(e, ask_error::actor_stopped, "receiver stopped");
    fail_thrown();
  }
  if (muted_on_ != nullptr) muted_on_->release();
  delete mute_list_.load(std::memory_order_acquire);
  delete extras_;
  delete spill_;
  delete meter_.load(std::memory_order_acquire);
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

send_result actor_cell::enqueue_slow(envelope* e, admission a) noexcept {
  switch (a) {
    case admission::accepted_over: return accepted_over_bound();
    case admission::refused: {
      if (send_result r{}; take_refused(e, r)) return r;
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
  if (metered_.load(std::memory_order_relaxed)) [[unlikely]] stamp(first);  // a chain: its first message stands for it
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
               s.corrupt, s.lost, s.discarded, s.syncs};
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

void actor_cell::trim_oldest(std::uint64_t& consumed) noexcept {
  while (mailbox_.queued() > mailbox_.capacity()) {
    auto* e = static_cast<envelope*>(mailbox_.pop());
    if (e == nullptr) return;
    ++consumed;
    sys_->count_drop(drop_reason::dropped_oldest, *e->ops->type);
    discard(e, ask_error::mailbox_full, "dropped: mailbox full (drop_oldest)");
  }
}

envelope* actor_cell::next(turn& t, std::size_t& handled, bool trims) noexcept {
  if (auto* s = static_cast<envelope*>(mailbox_.pop_system())) {
    ++t.system;  // system messages do not count against the quantum
    return s;
  }
  if (extras_ != nullptr && (extras_->suspended || extras_->exclusive_waits != 0 || !extras_->unstashed.empty()))
      [[unlikely]] {
    // Between incarnations, or a non-reentrant coroutine handler waits:
    // only the system lane is served.
    if (extras_->suspended || extras_->exclusive_waits != 0) return nullptr;
    envelope* e = extras_->unstashed.front();
    extras_->unstashed.pop_front();
    ++handled;
    return e;
  }
  if (trims) trim_oldest(t.user);
  if (auto* e = static_cast<envelope*>(mailbox_.pop())) {
    ++t.user;
    ++handled;
    return e;
  }
  if (spill_ == nullptr) [[likely]] return nullptr;
  // Memory gave nothing: the spilled messages, oldest first (once no
  // message is still being linked into memory).
  bool released = false;
  envelope* e = spill_->next(t.user, released);
  if (released) ++t.user;  // the spill's token
  if (e != nullptr) ++handled;
  return e;
}

void actor_cell::consume(envelope* e) noexcept {
  try {
    e->ops->invoke(*this, e);
  } catch (const std::exception& ex) {
    fail(ex.what());
  } catch (...) {
    fail("unknown exception");
  }
}

void actor_cell::consume_metered(envelope* e, actor_meter& m, bool user) noexcept {
  if (!user) return consume(e);
  // The stamped messages (one in sample_every per sending thread) are timed:
  // their wait in the mailbox and their handler's run.
  const std::uint64_t sent = e->sent_ns;  // before the handler frees e
  if (sent == 0) return consume(e);
  const std::uint64_t begin = meter_now_ns();
  consume(e);
  const std::uint64_t end = meter_now_ns();
  if (begin >= sent) m.mailbox_time.record(begin - sent);
  m.processing_time.record(end - begin);
}

void actor_cell::consume_observed(envelope* e, actor_meter* m, bool user) noexcept {
  const trace_context* sent = e->trace;  // e (and its context) is freed by the handler
  if (sent == nullptr) return consume_metered(e, *m, user);  // resume() sends only stamped ones here
  // This handling is a new span of the sender's trace; what it sends carries it.
  const trace_context mine{sent->trace_id, new_span_id(), sent->flags};
  const std::array<std::uint8_t, 8> parent = sent->span_id;
  const std::type_info* type = e->ops->type;
  const auto& hook = sys_->config().on_message_span;
  const auto start = hook ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  const trace_context* prev = std::exchange(tls_trace, &mine);
  if (m != nullptr) consume_metered(e, *m, user);
  else consume(e);
  tls_trace = prev;
  if (!hook) return;
  try {
    hook(message_span{mine, parent, id_, type, start, std::chrono::steady_clock::now()});
  } catch (const std::exception& ex) {
    span_hook_failed(ex.what());
  } catch (...) {
    span_hook_failed("unknown exception");
  }
}

bool actor_cell::start_metering(std::string label, std::uint32_t sample_every) {
  auto* fresh = new actor_meter(std::move(label), sample_every);
  actor_meter* none = nullptr;
  if (!meter_.compare_exchange_strong(none, fresh, std::memory_order_acq_rel)) {
    delete fresh;
    return false;
  }
  sample_shift_.store(static_cast<std::uint8_t>(std::countr_zero(sample_every)), std::memory_order_relaxed);
  metered_.store(true, std::memory_order_relaxed);
  return true;
}

resumable::result actor_cell::resume() {
  actor_cell* prev = std::exchange(tls_current, this);
  turn t = start_turn();
  const std::size_t quantum = sys_->quantum();
  const bool trims = mailbox_.bounded() && mailbox_.policy() == overflow::drop_oldest;
  actor_meter* const meter = meter_.load(std::memory_order_acquire);
  std::size_t handled = 0;
  while (handled < quantum) {
    const std::size_t before = handled;
    envelope* e = next(t, handled, trims);
    if (e == nullptr) break;
    // Observed: a traced message, or one a metered actor's sender stamped
    // (one in sample_every); the rest of a metered actor's go straight on.
    if (e->trace == nullptr && (meter == nullptr || e->sent_ns == 0)) [[likely]] consume(e);
    else consume_observed(e, meter, handled != before);
    if (stop_requested_ || muted_on_ != nullptr) break;
  }
  sys_->count_processed(counter_slot(), handled);
  if (meter != nullptr) [[unlikely]] {
    meter->processed.store(meter->processed.load(std::memory_order_relaxed) + handled, std::memory_order_relaxed);
  }
  if (extras_ != nullptr && extras_->idle_tracking) extras_->last_active_ns.store(steady_ns(), std::memory_order_relaxed);
  tls_current = prev;
  if (stop_requested_) return end_of_life(t);
  if (extras_ != nullptr && (extras_->suspended || extras_->exclusive_waits != 0)) return park(t, {});
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

timer_service& actor_cell::timers() const noexcept { return sys_->timers(); }

bool actor_cell::redelivered() const noexcept { return spill_ != nullptr && spill_->redelivered(); }

envelope* actor_cell::external_pop(const message_ops* down_ops) noexcept {
  while (auto* s = static_cast<envelope*>(mailbox_.pop_system())) {
    if (down_ops != nullptr && s->ops == down_ops) {
      mailbox_.finish(0, 1);
      return s;
    }
    system_undeliverable(s);  // an inbox has no system lane: monitors see it as gone
    mailbox_.finish(0, 1);
  }
  auto* e = static_cast<envelope*>(mailbox_.pop());
  if (e != nullptr) (void)finish_and_wake(turn{.user = 1}, /*hold=*/false);  // the inbox's owner keeps the cell
  return e;
}

void actor_cell::external_close() noexcept { close_and_drain(turn{}); }

send_result actor_cell::refuse_unserializable(const std::type_info& type) noexcept {
  sys_->count_drop(drop_reason::not_serializable, type);
  return send_result::not_serializable;
}

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

bool actor_cell::handed_over(envelope* e) noexcept {
  // A handover stop: what was queued before the close goes on to where the
  // actor lives next. (A send after the close is refused: its sender knows.)
  if (extras_ == nullptr || !extras_->handover) return false;
  try {
    return extras_->handover(e);
  } catch (...) {
    return false;  // no memory to hand it over: a dead letter after all
  }
}

void actor_cell::drain(std::uint64_t word, turn t) noexcept {
  // Account for every message admitted before the close.
  std::uint64_t left = mailbox::pending(word) - t.user - t.system;
  while (left > 0) {
    if (auto* e = static_cast<envelope*>(mailbox_.pop_system())) {
      --left;
      system_undeliverable(e);
    } else if (auto* u = static_cast<envelope*>(mailbox_.pop())) {
      --left;
      if (!handed_over(u)) dead_letter(u);
    } else {
      std::this_thread::yield();  // a sender is between its two steps
    }
  }
  if (mute_list_.load(std::memory_order_acquire) != nullptr) wake_muted();
}

} // namespace troupe::detail
