#pragma once
// Private to the transport: flow credit, both ends of it.
//
// A sender may have at most `initial_credit` units in flight to one remote
// actor; the receiver grants units back as its actor handles (or drops)
// the messages. A message costs `credit_cost` of its payload, the same on
// both ends, so the window holds many small messages or fewer large ones.
// A remote receiver's handling speed thus mutes its senders on the other
// node, and a peer that ignores the protocol is cut off.
//
// Sending side: one `send_windows` per connection, one window per remote
// actor, kept across the proxies that come and go for it (a proxy made
// afresh never brings a second window). Receiving side: one
// `receive_account` per (connection, local actor): every queued message
// holds a reference, and handling it grants the credit back once a step
// has gathered.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "link/frame_poster.hpp"
#include "troupe/actors/detail/remote_proxy.hpp"
#include "troupe/actors/detail/wire_envelope.hpp"

namespace troupe::transport {

/// A message costs one unit plus one per `credit_unit_bytes` of its payload.
inline constexpr std::size_t credit_unit_bytes = 512;
/// Units a sender may have in flight to one remote actor before the
/// receiver grants more: 32768 small messages, or about 16 MiB of large
/// ones. (A deep window keeps both sides busy through a scheduler time
/// slice on a loaded machine.)
inline constexpr std::int64_t initial_credit = 32768;
/// The receiver grants credit back once this many units were handled.
inline constexpr std::int64_t credit_step = 4096;

/// What a message whose Envelope payload has `payload_bytes` costs.
[[nodiscard]] constexpr std::int64_t credit_cost(std::size_t payload_bytes) noexcept {
  return 1 + static_cast<std::int64_t>(payload_bytes / credit_unit_bytes);
}

/// The most units a sender that honours flow credit can have sent one of
/// our actors and not had granted back, when we take frames of up to
/// `max_frame` bytes: its window, plus the message it started while any
/// credit was left. Past it, the receiver cuts the connection off.
[[nodiscard]] constexpr std::int64_t credit_limit(std::uint32_t max_frame) noexcept {
  return initial_credit + credit_cost(max_frame);
}

// -- receiving side --------------------------------------------------------------

/// The receiving side's count for one (connection, local actor). Each
/// queued message holds a reference; handling (or dropping) it counts its
/// cost, and the message that completes a step grants what has gathered.
/// References and the count share one word, so a message's end costs one
/// atomic operation. Made by the reader, which keeps one reference.
class receive_account final : public detail::wire_receipt {
 public:
  receive_account(std::weak_ptr<frame_poster> to, std::uint64_t target) noexcept : to_(std::move(to)), target_(target) {}
  receive_account(const receive_account&) = delete;
  receive_account& operator=(const receive_account&) = delete;

  /// Adds `n` references. @threadsafe
  void retain(std::uint32_t n = 1) noexcept { state_.fetch_add(n, std::memory_order_relaxed); }
  /// Drops one reference (the last frees the account). @threadsafe
  void release() noexcept {
    if ((state_.fetch_sub(1, std::memory_order_acq_rel) & refs_mask) == 1) delete this;
  }
  /// A message of `units` was handled or dropped; the caller keeps its
  /// reference. @threadsafe
  void consumed(std::int64_t units) noexcept { count(units, false); }
  /// A message of `units` was handled or dropped, and its reference goes
  /// with it. @threadsafe
  void consumed_and_release(std::int64_t units) noexcept { count(units, true); }
  /// A wire_envelope of `payload_bytes` was handled or dropped. @threadsafe
  void done(std::uint32_t payload_bytes) noexcept override { consumed_and_release(credit_cost(payload_bytes)); }
  /// When no message of the account is queued (only its owner holds it),
  /// grants what has gathered below a step: the sender's window then fills
  /// again, and a window nobody uses any more can be forgotten there. The
  /// connection calls it now and then (each heartbeat), not per message.
  /// @threadsafe
  void return_leftover() noexcept;

  /// The reader takes a message of `units`: false, and nothing counted,
  /// when that would put more than `limit` units in the peer's hands (it
  /// sent without credit). @note The reader only.
  [[nodiscard]] bool charge(std::int64_t units, std::int64_t limit) noexcept;

 private:
  ~receive_account() = default;
  static constexpr std::uint64_t refs_mask = 0xFFFF'FFFF;  // low half: references; high half: handled since the last grant
  static constexpr std::uint64_t one_handled = std::uint64_t{1} << 32;
  void count(std::int64_t units, bool release_too) noexcept;
  void grant(std::int64_t units) noexcept;
  std::atomic<std::uint64_t> state_{1};
  std::weak_ptr<frame_poster> to_;  // where FLOW_CREDIT goes
  std::uint64_t target_;
  // Two counts, so that the reader's (once per message) is a plain store:
  // only the reader adds to received_. A stale granted_ only makes charge()
  // stricter, and a grant the peer acted on was counted before it was sent.
  std::atomic<std::int64_t> received_{0};  // units the peer sent through this account (the reader's)
  std::atomic<std::int64_t> granted_{0};   // units granted back (any thread)
};

// Inline: it runs once per message handled, as the wire envelope goes.
inline void receive_account::count(std::int64_t units, bool release_too) noexcept {
  const auto u = static_cast<std::uint64_t>(units);
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    // The message that completes a step grants what has gathered, and
    // keeps its reference until the grant is sent (the account must
    // outlive it); others let go here. The count stays below credit_step.
    const std::uint64_t gathered = (s >> 32) + u;
    const bool step = gathered >= static_cast<std::uint64_t>(credit_step);
    const std::uint64_t next = step ? (s & refs_mask) : s + u * one_handled - (release_too ? 1 : 0);
    if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      if (step) {
        grant(static_cast<std::int64_t>(gathered));
        if (release_too) release();
      } else if (release_too && (next & refs_mask) == 0) {
        delete this;
      }
      return;
    }
  }
}

// -- sending side ----------------------------------------------------------------

/// The credit a connection may still spend on each remote actor.
class send_windows {
 public:
  /// One remote actor's window. Its address is stable while its proxy
  /// lives (between open and close).
  struct window {
    /// Units granted and not yet spent. Spent by the proxy's turns (one
    /// fetch_sub per turn), granted by the reader.
    std::atomic<std::int64_t> units{initial_credit};
    std::uint32_t proxies = 0;  ///< proxies of the actor that exist (mx_; an old one may be freed as a new one is made)
    detail::cell_ptr parked;    ///< the proxy waiting for credit (mx_)
    std::chrono::steady_clock::time_point parked_at{};  ///< since when (mx_)
    bool reported = false;      ///< this wait was reported by overdue() (mx_)
  };
  /// A remote actor whose sender has waited for credit too long.
  struct overdue_wait {
    std::uint64_t remote;
    std::chrono::milliseconds waited;
  };

  /// A proxy for `remote` was made: its window (the one an earlier proxy
  /// left, or a full one). Paired with one close(). @throws std::bad_alloc
  window& open(std::uint64_t remote);
  /// A proxy went: once none is left, the window is forgotten when full.
  void close(std::uint64_t remote) noexcept;
  /// The window of an open remote actor. @threadsafe
  [[nodiscard]] window* find(std::uint64_t remote);
  /// After a turn that ran out of credit: true when `p` is now parked on its
  /// window (woken by a grant); false when credit came meanwhile. @threadsafe
  bool park(window& w, detail::remote_proxy& p);
  /// The peer granted `units` more for `remote`; wakes a parked proxy.
  /// A window never grows past initial_credit (a peer granting what was not
  /// spent gains nothing). @threadsafe
  void grant(std::uint64_t remote, std::int64_t units);
  /// Windows whose proxy has waited for credit longer than `bound` (each
  /// wait reported once): a receiver much slower than its senders, or
  /// credit that was lost. The connection asks each heartbeat. @threadsafe
  [[nodiscard]] std::vector<overdue_wait> overdue(std::chrono::steady_clock::time_point now,
                                                  std::chrono::milliseconds bound);
  /// The connection ended: every parked proxy, to be woken (they close).
  /// From now on nothing parks here (park() answers false).
  [[nodiscard]] std::vector<detail::cell_ptr> take_parked();
  /// A new session serves the same remote actors (after take_parked): the
  /// peer's receiving side starts afresh, so every window is full again
  /// and parking works again. @note Only once no turn spends on the ended
  /// session (its writer is closed).
  void restart();
  /// Windows held (open or waiting for their credit). @threadsafe
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mx_;
  bool ended_ = false;  // take_parked() ran: a proxy parking now would wait for ever
  std::unordered_map<std::uint64_t, window> windows_;
};

} // namespace troupe::transport
