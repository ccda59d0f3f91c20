#pragma once
/// @file A message in wire form: its encoded bytes in one pooled block.
/// Inbound, the transport queues one per message from the peer and the
/// receiver decodes it in its own turn. Outbound, `actor_ref::tell` to a
/// remote actor encodes the message into one on the sender's thread, so the
/// proxy only copies bytes and the message's own allocations are freed on
/// the thread that made them.

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "troupe/mailbox/block_pool.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/wire.hpp"

namespace troupe::remote {

/// Flow credit is counted in units: a message costs one unit plus one per
/// `credit_unit_bytes` of its payload (`credit_cost`, the same on both
/// ends), so the window holds many small messages or fewer large ones.
inline constexpr std::size_t credit_unit_bytes = 512;
/// Units a sender node may have in flight to one remote actor before the
/// receiver grants more: the sender's proxy stops, and its senders are
/// muted, until the receiver has handled some. 32768 small messages, or
/// about 16 MiB of large ones. (A deep window keeps both sides busy through
/// a scheduler time slice on a loaded machine.)
inline constexpr std::int64_t initial_credit = 32768;
/// The receiver grants credit back once this many units were handled.
inline constexpr std::int64_t credit_step = 4096;

/// What a message whose Envelope payload has `payload_bytes` costs.
[[nodiscard]] constexpr std::int64_t credit_cost(std::size_t payload_bytes) noexcept {
  return 1 + static_cast<std::int64_t>(payload_bytes / credit_unit_bytes);
}

/// The most credit units a peer that honours flow credit can have sent one
/// of our actors and not had granted back, when we take frames of up to
/// `max_frame` bytes: its window; the message it started while any credit
/// was left; and less than a credit step that a freed proxy of the peer's
/// left outstanding when a fresh one, with a full window, replaced it (the
/// sender pins a proxy with more: session::debts_). Past it, the receiver
/// cuts the connection off.
[[nodiscard]] constexpr std::int64_t credit_limit(std::uint32_t max_frame) noexcept {
  return initial_credit + credit_step + credit_cost(max_frame);
}

/// The receiving side's count of handled credit for one (peer, actor):
/// each inbound envelope holds a reference; handling (or dropping) it calls
/// `consumed_and_release` with its cost, which grants the credit back once
/// credit_step units have gathered. References and the count share one
/// word, so an envelope's end costs one atomic operation.
class credit_account {
 public:
  credit_account() = default;
  credit_account(const credit_account&) = delete;
  credit_account& operator=(const credit_account&) = delete;
  /// Adds `n` references. @threadsafe
  void retain(std::uint32_t n = 1) noexcept { state_.fetch_add(n, std::memory_order_relaxed); }
  /// Drops one reference (the last frees the account). @threadsafe
  void release() noexcept {
    if ((state_.fetch_sub(1, std::memory_order_acq_rel) & refs_mask) == 1) delete this;
  }
  /// A message of `units` (its credit_cost) was handled or dropped; the
  /// caller keeps its reference. @threadsafe
  void consumed(std::int64_t units) noexcept { count(units, false); }
  /// A message of `units` was handled or dropped, and its envelope's
  /// reference goes with it. @threadsafe
  void consumed_and_release(std::int64_t units) noexcept { count(units, true); }

 protected:
  virtual ~credit_account() = default;
  /// Sends `units` more credit to the sender. @threadsafe
  virtual void grant(std::int64_t units) noexcept = 0;

 private:
  static constexpr std::uint64_t refs_mask = 0xFFFF'FFFF;  // low half: references; high half: handled since the last grant
  static constexpr std::uint64_t one_handled = std::uint64_t{1} << 32;
  void count(std::int64_t units, bool release_too) noexcept {
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
  std::atomic<std::uint64_t> state_{1};
};

/// A message from the peer still in wire form: the payload bytes, in one
/// pooled block. Its ops decode it in the receiver's turn.
struct wire_envelope final : detail::envelope {
  std::uint32_t size;
  credit_account* account;  ///< told when the message is handled or dropped (may be null)
  [[nodiscard]] std::string_view payload() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), size};
  }
  /// A copy of `payload`, with no account yet (a transport sets `account`
  /// and takes its references per chain). @throws std::bad_alloc
  static wire_envelope* make(const detail::message_ops* ops, std::string_view payload);
  /// A wire_envelope in `mem` (pool block of sizeof + size bytes) whose
  /// payload the caller writes after it. No account.
  static wire_envelope* construct(void* mem, const detail::message_ops* ops, std::uint32_t size) noexcept {
    return ::new (mem) wire_envelope(ops, size, nullptr);
  }
  static void destroy(detail::envelope* e) noexcept;

 private:
  wire_envelope(const detail::message_ops* o, std::uint32_t n, credit_account* a) noexcept
      : envelope(o), size(n), account(a) {}
};

/// Counts and logs a payload that passed the transport's check but that the
/// type's decoder refused (a dead letter, drop_reason::malformed).
void malformed_inbound(detail::actor_cell& self, detail::envelope* e) noexcept;

/// Operations of message M for actor A arriving in wire form.
template <class A, class M>
struct inbound_ops {
  static void invoke(detail::actor_cell& self, detail::envelope* e) {
    M value{};
    if (!wire_decode(static_cast<wire_envelope*>(e)->payload(), value)) {
      malformed_inbound(self, e);
      return;
    }
    detail::user_ops<A, M>::run(self, e, value);
  }
  static constexpr detail::message_ops ops{&invoke, &wire_envelope::destroy, &typeid(M), nullptr,
                                           detail::wire_of<A, M>()};
};

/// A message encoded for another node is only ever copied out by the port;
/// should one reach a local cell, this dead-letters it.
void encoded_reached_local(detail::actor_cell& self, detail::envelope* e);

/// Operations of a wire_envelope that `tell` encoded for remote actor type A.
template <class A, class M>
struct outbound_ops {
  static constexpr detail::message_ops ops{&encoded_reached_local, &wire_envelope::destroy, &typeid(M), nullptr,
                                           detail::wire_of<A, M>()};
};

/// Bytes of a codec's scratch buffer a thread keeps between messages.
inline constexpr std::size_t scratch_keep = 64 * 1024;

/// Encodes `msg` into a wire_envelope on the calling thread. nullptr when
/// encoding failed: the caller queues the message itself and the transport
/// reports the failure as it does for any message.
template <class A, class M>
[[nodiscard]] detail::envelope* encode_for_send(const M& msg) noexcept {
  try {
    if constexpr (protobuf_message<M>) {
      const std::size_t n = msg.ByteSizeLong();
      if (n > UINT32_MAX) return nullptr;
      void* mem = detail::pool::allocate(sizeof(wire_envelope) + n);
      auto* e = wire_envelope::construct(mem, &outbound_ops<A, M>::ops, static_cast<std::uint32_t>(n));
      msg.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(e + 1));
      return e;
    } else {
      thread_local std::string scratch;
      scratch.clear();
      if (scratch.capacity() > scratch_keep) std::string().swap(scratch);  // one huge message pins nothing
      wire_encode(msg, scratch);
      if (scratch.size() > UINT32_MAX) return nullptr;
      return wire_envelope::make(&outbound_ops<A, M>::ops, scratch);
    }
  } catch (...) {
    return nullptr;
  }
}

} // namespace troupe::remote
