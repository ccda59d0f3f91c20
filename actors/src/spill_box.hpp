#pragma once
// Private to actors: the disk side of a `spill` mailbox (overflow::spill).
//
// While the spill holds anything, the memory queue refuses every user
// message (mailbox::refuse_all), so each sender's messages keep their order:
// memory first (older), then the spill files, then `held_` (messages that
// cannot be written: no codec, an ask, or the disk is full and the second
// policy is mute_sender). The spill owns one token in the mailbox's depth
// while it holds anything, so the consumer stays scheduled until the spill
// is empty.
//
// A record's type name is the message's wire name; a traced message's is
// followed by a NUL and its trace context in wire form (detail::put_trace,
// 25 bytes, as in the Envelope's field 7), so the context survives the disk
// (and a restart, with durability). A name has no NUL of its own.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/detail/decoders.hpp"
#include "troupe/scheduler/timer_service.hpp"
#include "troupe/spill/store.hpp"

namespace troupe::detail {

class spill_box {
 public:
  /// Opens the store in `o.dir`: recovers what an earlier run left when
  /// `o.durable`, discards it (counted, logged) otherwise. Recovered
  /// messages are delivered first. @throws std::runtime_error (the
  /// directory is unusable or taken), std::invalid_argument.
  spill_box(actor_cell& cell, const spill_options& o, std::vector<message_decoder> accepts);
  ~spill_box();
  spill_box(const spill_box&) = delete;
  spill_box& operator=(const spill_box&) = delete;

  enum class outcome : unsigned char {
    spilled,  ///< on disk (or held behind the disk, for a sender that may not wait)
    held,     ///< kept in memory behind the spill: mute or block the sender
    full,     ///< disk full and on_disk_full is fail: the caller discards it
    closed,   ///< the actor is stopping: the caller dead-letters it
    retry,    ///< the spill is empty again: offer it to the memory queue
  };
  /// A sender: `e` was refused by the memory queue. Takes `e` unless the
  /// outcome is full, closed or retry. `schedule` is set when the consumer
  /// must be scheduled (it was idle). @threadsafe
  outcome offer(envelope* e, bool& schedule) noexcept;

  /// The consumer, once its memory queue gave nothing: the next spilled
  /// message (nullptr when none); `released` is set once when the spill has
  /// become empty and gives its token back (count one more user message
  /// finished). `taken` is what the consumer took this turn: a mailbox depth
  /// beyond it and the spill's own token means memory holds a message (still
  /// being linked, or pushed just before the spill began) older than
  /// anything on disk, so nothing is handed out until memory gave it.
  envelope* next(std::uint64_t taken, bool& released) noexcept;

  /// True while the consumer handles a message recovered from the files an
  /// earlier run left (it may have been handled then). Consumer only.
  [[nodiscard]] bool redelivered() const noexcept { return redelivered_; }

  /// True while messages wait in memory behind a full disk (muted senders
  /// are not woken then). @threadsafe
  [[nodiscard]] bool holding() const noexcept;
  /// A thread outside the system blocks here after a `held` outcome until
  /// the held messages are delivered or the actor stops. @threadsafe
  void wait_until_drained();

  /// The consumer, at its final stop: no more offers; held messages are
  /// dead-lettered, and so are the files' when not durable (durable files
  /// stay for the next spawn). Returns 1 when the spill's token was still
  /// in the depth (the caller finishes it), else 0.
  std::uint64_t shut_down() noexcept;

  struct counters {
    std::uint64_t spilled = 0;        ///< messages written to disk
    std::uint64_t spilled_bytes = 0;  ///< their payload bytes
    std::uint64_t unspooled = 0;      ///< read back and delivered
    std::uint64_t held = 0;           ///< kept in memory behind the spill
    std::uint64_t refused = 0;        ///< refused with disk full (on_disk_full = fail)
    std::uint64_t corrupt = 0;        ///< records found corrupt (never delivered)
    std::uint64_t lost = 0;           ///< records lost to damage (after a corrupt one, or in a missing file)
    std::uint64_t discarded = 0;      ///< left on disk without durability, dropped at spawn or stop
    std::uint64_t disk_bytes = 0;     ///< now
    std::uint64_t max_disk_bytes = 0; ///< high-water mark
    std::uint64_t on_disk = 0;        ///< records now
    std::uint64_t syncs = 0;          ///< write-ahead: fdatasync rounds (each covers every append before it)
    bool token = false;               ///< the spill holds a token in the mailbox's depth
  };
  [[nodiscard]] counters stats() const;

 private:
  /// offer's placing of `e`: on disk, held, or refused.
  outcome place_locked(envelope* e, bool& schedule) noexcept;
  /// Writes `e` to disk and frees it; false (e untouched) when it cannot
  /// be written (`disk_full` says whether for lack of space).
  bool append_locked(envelope* e, bool& disk_full);
  void take_token_locked(bool& schedule) noexcept;

  /// Write-ahead: returns once every record appended up to `ticket` (all
  /// of them for UINT64_MAX) is on stable storage. One caller syncs for
  /// all that appended before it (group commit); the fdatasync runs
  /// outside mx_, so appends go on meanwhile.
  void sync_upto(std::uint64_t ticket) noexcept;
  /// Arms the write-ahead `interval` timer.
  void start_sync_timer();

  /// Counts (as dead letters) the records the store found lost since the last call.
  void count_losses_locked() noexcept;

  /// Reads records back into ready_ until it holds `batch` or the store is
  /// empty (a record of a type not accepted is counted and dropped).
  /// Consumer, under mx_. @throws std::system_error (an unreadable disk)
  void unspool_locked(std::size_t batch);
  /// The next envelope read back and not yet handed out, or nullptr. Consumer.
  envelope* take_ready() noexcept;

  /// Looks wire names up by string_view (no string made per record).
  struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  actor_cell& cell_;
  spill_options opts_;
  const bool wal_;      // write_ahead: every message goes through the disk
  const bool durable_;  // records survive the process (durable or write_ahead)
  std::unordered_map<std::string, const message_ops*, name_hash, std::equal_to<>> inbound_;  // wire name -> ops of a wire_envelope
  std::unordered_map<const message_ops*, const std::string*> names_;  // inbound ops -> wire name
  mutable std::mutex mx_;
  std::condition_variable drained_cv_;
  std::unique_ptr<spill::store> store_;
  std::deque<envelope*> held_;
  std::deque<envelope*> ready_;  // read back from disk, not yet delivered (consumer only)
  std::string traced_name_;      // a traced record's type name, built here (under mx_)
  /// Without durability records are read back 64 per lock. With it, one at
  /// a time, and a record leaves the disk only once its handler has run
  /// (when the next is asked for, or at stop): a crash delivers it again
  /// rather than losing it.
  static constexpr std::size_t read_batch = 64;
  std::uint64_t losses_counted_ = 0;
  std::uint64_t appended_ = 0;  // records appended (under mx_): the tickets of sync_upto
  std::mutex sync_mx_;          // one sync at a time
  std::uint64_t synced_ = 0;    // appended_ as of the last completed sync (under sync_mx_)
  /// What the interval timer reaches the box through (nulled at shut_down).
  struct syncer {
    std::mutex mx;
    spill_box* box = nullptr;
  };
  std::shared_ptr<syncer> syncer_;
  timer_handle sync_timer_;
  std::uint64_t recovered_left_ = 0;  // consumer: records from an earlier run not yet handed out
  bool ready_recovered_ = false;      // consumer (durable): the record in ready_ is one of them
  bool redelivered_ = false;          // consumer: the message being handled is one of them  // store_stats::lost_records already counted as dead letters
  bool delivered_unpopped_ = false;  // durable: the last record handed out is still on disk
  bool token_ = false;
  bool closed_ = false;
  std::string scratch_;
  counters n_;
};

} // namespace troupe::detail
