#pragma once
/// @file The runtime object behind every actor: mailbox, reference count,
/// scheduling state and the turn loop. Users never touch it directly;
/// `actor_ref` and `actor` are its public faces.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "troupe/actors/detail/actor_meter.hpp"
#include "troupe/actors/envelope.hpp"
#include "troupe/actors/exit_reason.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/actors/trace.hpp"
#include "troupe/actors/mailbox_metrics.hpp"
#include "troupe/mailbox/mailbox.hpp"
#include "troupe/scheduler/resumable.hpp"

namespace troupe {
class timer_service;
}

namespace troupe::detail {

class system_core;
class spill_box;
struct cell_extras;
struct mute_list;
class cell_ptr;
struct message_decoder;
struct reader_access;

/// Something other than the pool that runs a cell (a dedicated thread, or
/// an external thread reading an inbox).
struct executor {
  virtual ~executor() = default;
  /// The cell became runnable. @threadsafe
  virtual void notify() noexcept = 0;
  /// The cell became runnable through a send from the running actor (the
  /// pool's cache-hot hand-off applies). @threadsafe
  virtual void notify_hot() noexcept { notify(); }
  /// The cell stopped; called from its last turn.
  virtual void finish() noexcept {}
};

/// A system envelope asking an actor to stop. @threadsafe to create.
envelope* make_stop_envelope(exit_reason why);
/// A stop (reason `stopped`) whose user messages still queued at the end
/// go to `handover` instead of being dead letters (the cluster's
/// passivation: they follow the identity to its next activation).
envelope* make_handover_stop_envelope(std::function<bool(envelope*)> handover);

/// The actor currently running on this thread, if any.
actor_cell* current_cell() noexcept;

struct pending_ask_base;

/// An actor's runtime state. Reference-counted: the system's registry holds
/// one reference until the actor stops; each handle holds one.
class actor_cell : public resumable {
 public:
  actor_cell(system_core* sys, const mailbox_options& opts);
  actor_cell(const actor_cell&) = delete;
  actor_cell& operator=(const actor_cell&) = delete;

  /// @threadsafe
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  /// Adds a reference unless the count already dropped to zero (the cell is
  /// being freed): for caches holding cells without a reference. @threadsafe
  bool try_add_ref() noexcept {
    std::uint32_t n = refs_.load(std::memory_order_relaxed);
    while (n != 0) {
      if (refs_.compare_exchange_weak(n, n + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  /// Frees the cell with the last reference. @threadsafe
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// Offers a user message; the cell owns `e` whatever the outcome.
  /// @threadsafe
  send_result enqueue(envelope* e) noexcept {
    if (metered_.load(std::memory_order_relaxed)) [[unlikely]] stamp(e);
    if (tls_trace != nullptr) [[unlikely]] attach_trace(e);
    const admission a = mailbox_.push(e);
    if (a == admission::accepted) [[likely]] return send_result::ok;
    if (a == admission::accepted_schedule) {
      schedule_hot();
      return send_result::ok;
    }
    return enqueue_slow(e, a);
  }

  /// Offers a system message (never refused by the bound); the cell owns
  /// `e` whatever the outcome. @threadsafe
  void enqueue_system(envelope* e) noexcept;

  /// Runs one turn: system messages first, then up to a quantum of user
  /// messages. Called by the scheduler on one thread at a time.
  result resume() override;

  /// Requests a stop at the end of the current message.
  /// @note Only from the actor's own turn.
  void request_stop(exit_reason why) noexcept {
    if (!stop_requested_) {
      stop_requested_ = true;
      stop_reason_ = why;
    }
  }

  /// Records that the running actor sent to a full mute_sender mailbox.
  /// @note Only from this actor's own turn.
  void mute_on(actor_cell* receiver) noexcept;

  /// Tries to register `sender` as muted on this (full) mailbox. False
  /// when this mailbox already drained (or closed): the sender just goes on.
  /// @threadsafe
  bool add_muted(const cell_ptr& sender);

  /// Schedules this actor if it is parked (muted or suspended, holding its
  /// token); false when it was not. @threadsafe
  bool unpark() noexcept;

  /// Wakes the senders muted on this mailbox if it has drained to its low
  /// water mark (or closed); otherwise leaves them waiting. @threadsafe
  void wake_muted() noexcept;

  /// Blocks the calling (non-actor) thread until this mailbox has drained
  /// to its low-water mark or closed. @threadsafe
  void wait_for_room();

  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  /// True for a remote proxy: `tell` encodes a wire type before queueing it.
  /// @threadsafe (fixed at construction)
  [[nodiscard]] bool encodes_on_send() const noexcept { return encodes_on_send_; }
  /// A message of `type` cannot go to this (remote) actor: counted as a
  /// not_serializable dead letter. @threadsafe
  send_result refuse_unserializable(const std::type_info& type) noexcept;
  [[nodiscard]] system_core& system() const noexcept { return *sys_; }
  /// The system's timer thread (for callers that see system_core incomplete). @threadsafe
  [[nodiscard]] timer_service& timers() const noexcept;
  /// The message being handled was recovered from a spill's files at spawn. @note Own turn only.
  [[nodiscard]] bool redelivered() const noexcept;
  [[nodiscard]] const mailbox& box() const noexcept { return mailbox_; }
  /// Its mailbox spills to disk. @threadsafe (fixed before the cell runs)
  [[nodiscard]] bool spills() const noexcept { return spill_ != nullptr; }
  [[nodiscard]] void* instance() const noexcept { return instance_; }
  /// True while an incarnation (the actor object) exists. @note Own turn only.
  [[nodiscard]] bool alive() const noexcept { return instance_alive_; }
  /// The actor's C++ type. @threadsafe
  [[nodiscard]] const std::type_info& actor_type() const noexcept { return type(); }
  /// The actor's type name for logs (demangled).
  [[nodiscard]] std::string type_name() const;
  /// Gives this actor per-actor metrics labelled `label`; false when it
  /// has them already. Runtime only (the system, at spawn or name binding).
  /// @threadsafe
  bool start_metering(std::string label, std::uint32_t sample_every);
  /// Its per-actor metrics, or nullptr. @threadsafe (fixed once set)
  [[nodiscard]] const actor_meter* meter() const noexcept { return meter_.load(std::memory_order_acquire); }
  /// Lazily allocated rarely used state (pending asks, timers).
  /// @note Only from the actor's own turn.
  cell_extras& extras();
  /// The extras if allocated, else nullptr. @note Only from the actor's own turn.
  [[nodiscard]] cell_extras* extras_if_any() const noexcept { return extras_; }
  /// Records an exception that escaped a handler: logs it and stops the
  /// actor with reason exception. @note Only from the actor's own turn.
  void fail(const char* what) noexcept;
  /// An ask this stop fails (the reply slot of a message whose handler
  /// threw, or of a waiting coroutine handler): failed with `code` and
  /// `what` once this actor's monitors have been sent their `down` (or,
  /// when it is restarted, at once), so that a watcher sees the `down`
  /// before the failed reply. Takes `slot` (nullptr: a tell, nothing to do).
  /// @note Only from the actor's own turn.
  void fail_after_down(reply_slot_base* slot, ask_error code, std::string what) noexcept;
  /// The message whose handler threw: frees it, and fails its ask as above.
  void fail_after_down(envelope* e, const char* what) noexcept {
    fail_after_down(std::exchange(e->reply, nullptr), ask_error::exception, what);
    e->ops->destroy(e);
  }
  /// Registers an ask this actor made: returns its request id, and keeps
  /// the actor's ask timer armed for the earliest deadline (`p->deadline`).
  /// @note Only from the actor's own turn.
  std::uint64_t add_ask(std::unique_ptr<pending_ask_base> p);
  /// Expires the asks whose deadline passed, then re-arms the ask timer
  /// (the timer's system message). What a continuation throws propagates.
  /// @note Only from the actor's own turn.
  void expire_asks();

  /// Runs the start hook (if the actor has one). Runtime only.
  virtual void call_start() {}
  /// Runs the stop hook (if the actor has one). Runtime only.
  virtual void call_stop() {}
  /// Hands an exit signal (an `exit_msg` envelope) to the actor's handler
  /// if it traps exits; false (envelope untouched) when it does not.
  virtual bool trap_exit(envelope*) { return false; }

  // -- failure as a message (runtime; each from the named actor's own turn) --

  /// This actor starts watching `target`; returns the monitor id. A `down`
  /// comes through `down_ops` (made for this actor's type).
  std::uint64_t monitor(actor_cell& target, const message_ops* down_ops);
  /// Cancels monitor `id`; a `down` already on its way is dropped.
  void demonitor(std::uint64_t id);
  /// Links this actor and `other` (both ways).
  void link(actor_cell& other);
  /// Removes the link both ways.
  void unlink(actor_cell& other);
  /// For `down` delivery: true (and forgets it) when monitor `id` is active.
  bool take_monitor(std::uint64_t id) noexcept;
  /// Why the actor stopped, and the detail. @threadsafe once the mailbox is closed.
  [[nodiscard]] exit_reason stop_reason() const noexcept { return stop_reason_; }
  [[nodiscard]] std::string exit_what() const;

  // -- stash --
  /// Keeps the message being handled for `unstash_all`. @throws std::length_error when the stash is full.
  void stash_current();
  /// Puts every stashed message back, ahead of the mailbox, in stash order.
  void unstash_all();
  /// For handlers: keeps `e` when the handler stashed it. Runtime only.
  void stash_take(envelope* e) noexcept;

  // -- supervision --
  /// Makes this (not yet running) actor a supervised child: its stops are
  /// reported to `sup` through `child_exit_ops` and `rebuild` constructs a
  /// new incarnation in place. Called by the supervisor before the child runs.
  void supervise_by(const cell_ptr& sup, const message_ops* child_exit_ops, std::function<void(actor_cell&)> rebuild);
  /// Builds a new incarnation (a restart command). Runtime only.
  void restart_incarnation();
  /// The next stop is for good (a terminate command). Runtime only.
  void mark_final(exit_reason why, std::string what) noexcept;
  /// True while between incarnations. @note Own turn only.
  [[nodiscard]] bool suspended() const noexcept;

  /// Idle timeout: `msg_env_factory` makes the message delivered after
  /// `period` without a user message. @note Own turn only.
  void set_idle_timeout(std::chrono::steady_clock::duration period, std::function<void()> fire);

  /// Takes the next message when an outside thread is the consumer
  /// (inbox); nullptr when none is visible. System messages are refused as
  /// sent to a stopped actor, except a `down` made with `down_ops` (the
  /// inbox's own monitors; nullptr for an inbox that takes no `down`),
  /// which is returned first. @note Only the inbox's owner.
  envelope* external_pop(const message_ops* down_ops) noexcept;
  /// Closes a cell consumed by an outside thread; queued messages become
  /// dead letters. @note Only the inbox's owner.
  void external_close() noexcept;

  /// The registry bound a name to this actor. @threadsafe
  void set_named() noexcept { named_.store(true, std::memory_order_seq_cst); }  // see registry::bind
  [[nodiscard]] bool named() const noexcept { return named_.load(std::memory_order_seq_cst); }

  /// Until released, nothing schedules this cell (it is being built).
  /// @note Only by the spawning thread, before the cell is shared.
  void hold_construction_token() noexcept { mailbox_.hold_token(); }
  /// The cell is registered and ready: schedules it if messages arrived
  /// meanwhile (from its own constructor, or its start hook). @note Spawner only.
  void release_construction_token() noexcept {
    if (mailbox_.finish(1) != 0) schedule();
  }
  /// A spawn failed before attach (the constructor, or what follows it,
  /// threw): cancels the timers and asks the constructor started, tells
  /// linked actors (reason killed: on_start never ran, so on_stop does not
  /// either), destroys the object if it was built, closes the mailbox and
  /// dead-letters what was sent to it. References handed out stay valid;
  /// sends through them are dead letters. @note Spawner only, holding the
  /// construction token.
  void abandon() noexcept;

  /// Gives a `spill` mailbox its disk side (the message types it can read
  /// back). @note Spawner only, before the cell runs. @throws like spill_box.
  void attach_spill(const spill_options& o, std::vector<message_decoder> accepts);
  /// A snapshot of the mailbox (and its spill). @threadsafe
  [[nodiscard]] mailbox_metrics metrics() const;

  void set_executor(executor* ex) noexcept { executor_ = ex; }
  void set_id(std::uint64_t id) noexcept { id_ = id; }

  // Registry links, guarded by the registry shard's mutex.
  actor_cell* reg_prev_ = nullptr;
  actor_cell* reg_next_ = nullptr;

 protected:
  virtual ~actor_cell();
  /// Destroys the actor object (the state).
  virtual void destroy_instance() noexcept = 0;
  virtual const std::type_info& type() const noexcept = 0;

  void* instance_ = nullptr;
  bool instance_alive_ = false;

  // For cells with their own turn loop (the remote proxy).
  /// Messages taken in the current turn, by lane.
  struct turn {
    std::uint64_t user = 0;
    std::uint64_t system = 0;
  };
  /// A turn begins: the token a park kept (if any) is released with it.
  [[nodiscard]] turn start_turn() noexcept {
    turn t;
    t.user = std::exchange(holding_token_, false) ? 1 : 0;
    return t;
  }
  [[nodiscard]] troupe::mailbox& own_box() noexcept { return mailbox_; }
  /// Ends turn `t` parked: keeps a token, so that senders schedule nothing
  /// and only unpark() (a system message, or whatever `wait` registered
  /// with) runs this cell again. `wait()` registers that wake-up and returns
  /// false when there is nothing to wait for after all. Returns yield when
  /// the cell must run again at once, idle when it is parked (another
  /// worker may run it from then on). @note The caller keeps the cell alive.
  template <class Wait>
  result park_until(turn t, Wait&& wait) noexcept {
    holding_token_ = true;
    // Finish first, while this turn still owns the cell: the kept token
    // makes every sender see a busy consumer, so nothing runs us before
    // parked_ says so. (The other way round, a system message could unpark
    // us in between, and the turn it starts release the token before this
    // one kept it: after a system-only turn the depth word would wrap,
    // closed bit included.)
    (void)finish_and_wake(t, /*hold=*/true);
    // Pairs with unpark(): a system sender raised the pending count
    // (seq_cst) before it calls unpark; we store parked_, then look for it.
    parked_.store(true, std::memory_order_seq_cst);
    if (!wait() || mailbox_.system_waiting()) {
      // Nothing to wait for after all, or a system message slipped in before
      // we parked: run again unless somebody else already unparked us.
      if (parked_.exchange(false, std::memory_order_acq_rel)) return result::yield;
    }
    return result::idle;
  }
  /// Ends a turn: mute bookkeeping, waking muted senders, idle or yield.
  result finish_turn(turn t) noexcept;
  /// Closes the mailbox and dead-letters what is queued beyond `t`.
  void close_and_drain(turn t) noexcept { drain(mailbox_.close(), t); }
  /// Dead-letters what is queued beyond `t` in a mailbox closed with `word`.
  void drain(std::uint64_t word, turn t) noexcept;
  /// Fails the asks of messages whose handler threw (see fail_after_down).
  void fail_thrown() noexcept;
  /// A user message left at the final stop, given to a handover stop's
  /// taker (true), or not (then it is a dead letter). Consumer only.
  bool handed_over(envelope* e) noexcept;
  /// Ends a consumer turn with the mailbox's `finish` (`hold`: keep a
  /// token), then marks the mute list seen and wakes the muted senders if
  /// the mailbox is at or below its low-water mark. Every turn end that may
  /// find a mute list goes through here, parking ones too: their next turn
  /// may be far off (a proxy waiting for credit). Returns what `finish`
  /// left. @note The caller keeps the cell alive.
  std::uint64_t finish_and_wake(turn t, bool hold) noexcept {
    const std::uint64_t left = mailbox_.finish(t.user, t.system, hold);
    wake_muted_if_drained(left);
    return left;
  }
  void set_stop_reason(exit_reason why) noexcept { stop_reason_ = why; }
  /// The mailbox refused `e`: true when this cell refuses every user
  /// message for a reason of its own (a remote proxy whose node is down)
  /// and took `e`, setting what its sender is told. @threadsafe (a sender's
  /// slow path)
  virtual bool take_refused(envelope* /*e*/, send_result& /*out*/) noexcept { return false; }
  /// See `encodes_on_send`. @note Constructor only.
  void set_encodes_on_send() noexcept { encodes_on_send_ = true; }

 private:
  friend class spill_box;
  friend struct reader_access;
  /// See reader_access::enqueue_chain.
  void enqueue_chain(envelope* first, std::uint32_t count) noexcept;
  send_result enqueue_slow(envelope* e, admission a) noexcept;
  /// A message was queued past a mute_sender bound: mutes the sending
  /// actor, blocks a thread outside the system, or just goes on.
  send_result accepted_over_bound() noexcept;
  send_result spill_offer(envelope* e) noexcept;
  /// Counts and discards a user message the closed cell will not run, as
  /// receiver_stopped, or node_down for a cell whose node is gone.
  void dead_letter(envelope* e) noexcept;
  void schedule_hot() noexcept;
 public:
  /// Hands the cell to its executor (pool or own thread). Runtime only.
  void schedule() noexcept;

 private:
  /// The next message of this turn: the system lane first (not counted in
  /// `handled`), then messages given back by unstash, then the mailbox
  /// (trimmed first under drop_oldest), then the spill. nullptr when there
  /// is none, or the actor is between incarnations.
  envelope* next(turn& t, std::size_t& handled, bool trims) noexcept;
  /// Runs `e`'s handler (or system action); an exception stops the actor.
  void consume(envelope* e) noexcept;
  /// consume() timed into `m` (a stamped user message).
  void consume_metered(envelope* e, actor_meter& m, bool user) noexcept;
  /// consume() of a traced message (a new span) or one stamped for metered `m` (may be null).
  void consume_observed(envelope* e, actor_meter* m, bool user) noexcept;
  /// A metered actor's sender: stamps one message in sample_every (per
  /// sending thread) with the time it was queued.
  void stamp(envelope* e) noexcept {
    const std::uint32_t every = std::uint32_t{1} << sample_shift_.load(std::memory_order_relaxed);
    const std::uint32_t left = tls_stamp_countdown - 1;
    // Gaps are below 2 * every: a longer one came from a receiver that
    // samples less often.
    if (left == 0 || left >= 2 * every - 1) [[unlikely]] {
      e->sent_ns = meter_now_ns();
      tls_stamp_countdown = stamp_gap(every);
    } else {
      tls_stamp_countdown = left;
    }
  }
  result park(turn t, const cell_ptr& wait_on) noexcept;
  result end_of_life(turn t) noexcept;
  void end_incarnation() noexcept;
  result final_stop(turn t) noexcept;
  /// The end every stop shares: shuts the spill down, closes the mailbox,
  /// dead-letters what is left beyond `t`, sends `down` to every watcher
  /// and forgets what this actor monitors.
  void close_for_good(turn t) noexcept;
  result suspend(turn t) noexcept;
  void system_undeliverable(envelope* e) noexcept;
  void trim_oldest(std::uint64_t& consumed) noexcept;
  /// The mute list, made on first use; `*created` is set when this call made it.
  mute_list& ensure_mute_list(bool* created = nullptr);
  /// See finish_and_wake.
  void wake_muted_if_drained(std::uint64_t left) noexcept;
  /// Wakes the muted senders after `delay` if the mailbox has drained, and
  /// re-arms (longer each time) until a consumer turn has seen the mute list.
  void recheck_muted_after(std::chrono::milliseconds delay);

  std::atomic<std::uint32_t> refs_{1};
  // Consumer-owned turn state.
  bool stop_requested_ = false;
  bool holding_token_ = false;
  // Fixed at construction, read by senders: in a padding byte beside the
  // mailbox's producer words, on the line a send writes anyway.
  bool encodes_on_send_ = false;
  exit_reason stop_reason_ = exit_reason::normal;
  std::atomic<bool> named_{false};
  std::atomic<bool> parked_{false};
  // Set once the actor has per-actor metrics: senders stamp the envelope.
  // In the two padding bytes before the mailbox (the layout is unchanged).
  std::atomic<bool> metered_{false};
  std::atomic<std::uint8_t> sample_shift_{0};  // its meter's sample_every, as a power of two
  mailbox mailbox_;
  system_core* sys_;
  executor* executor_ = nullptr;
  actor_cell* muted_on_ = nullptr;          // consumer-owned, strong reference
  std::atomic<mute_list*> mute_list_{nullptr};
  cell_extras* extras_ = nullptr;           // consumer-owned
  spill_box* spill_ = nullptr;              // overflow::spill only; set before the cell runs
  std::uint64_t id_ = 0;
  std::atomic<actor_meter*> meter_{nullptr};  // owned; set once (start_metering)
};

/// Intrusive strong reference to a cell.
class cell_ptr {
 public:
  cell_ptr() noexcept = default;
  /// Adopts one reference (does not add one).
  static cell_ptr adopt(actor_cell* c) noexcept {
    cell_ptr p;
    p.c_ = c;
    return p;
  }
  /// Shares `c` (adds one reference).
  explicit cell_ptr(actor_cell* c) noexcept : c_(c) {
    if (c_ != nullptr) c_->add_ref();
  }
  cell_ptr(const cell_ptr& o) noexcept : cell_ptr(o.c_) {}
  cell_ptr(cell_ptr&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  cell_ptr& operator=(cell_ptr o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~cell_ptr() {
    if (c_ != nullptr) c_->release();
  }
  [[nodiscard]] actor_cell* get() const noexcept { return c_; }
  actor_cell* operator->() const noexcept { return c_; }
  actor_cell& operator*() const noexcept { return *c_; }
  explicit operator bool() const noexcept { return c_ != nullptr; }
  friend bool operator==(const cell_ptr& a, const cell_ptr& b) noexcept { return a.c_ == b.c_; }

 private:
  actor_cell* c_ = nullptr;
};

/// What a transport's reader needs of a cell beyond `enqueue`.
/// @note Transports (and their tests) only.
struct reader_access {
  /// Offers `count` user messages linked through `next` from `first` (see
  /// mailbox::push_chain); the cell owns them whatever the outcome. For
  /// threads that never block and run no actor (a transport reader): over
  /// the bound they are accepted, as `enqueue` does there. @threadsafe
  static void enqueue_chain(actor_cell& c, envelope* first, std::uint32_t count) noexcept {
    c.enqueue_chain(first, count);
  }
};

} // namespace troupe::detail
