#pragma once
/// @file A message in wire form: its encoded bytes in one pooled block.
/// Two kinds of producer make one: `actor_ref::tell` to a remote actor
/// encodes the message on the sender's thread (so the proxy's turn only
/// copies bytes, and the message's own allocations are freed on the thread
/// that made them); and whoever receives bytes for a local actor (a
/// transport reading a connection, a spill mailbox reading its disk) queues
/// them undecoded, to be decoded in the receiver's own turn.
///
/// Who may call what: everything here is @threadsafe; an envelope is owned
/// by one thread at a time, like any envelope.

#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/wire.hpp"
#include "troupe/mailbox/block_pool.hpp"

namespace troupe::detail {

/// Told when a message that arrived in wire form is done with (handled, or
/// dropped), on the thread that drops it. Implemented by whoever queued it:
/// a transport counts flow credit this way.
class wire_receipt {
 public:
  /// The message of `payload_bytes` is done with. @threadsafe
  virtual void done(std::uint32_t payload_bytes) noexcept = 0;

 protected:
  ~wire_receipt() = default;
};

/// A message still in wire form: the payload bytes, in one pooled block.
/// Its ops decode it in the receiver's turn (inbound), or say which type it
/// encodes for the proxy that copies it out (outbound).
struct wire_envelope final : envelope {
  std::uint32_t size;
  wire_receipt* receipt;  ///< told when the message is handled or dropped (may be null)
  [[nodiscard]] std::string_view payload() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), size};
  }
  /// A copy of `payload`, with no receipt yet. @throws std::bad_alloc
  static wire_envelope* make(const message_ops* ops, std::string_view payload);
  /// A wire_envelope in `mem` (a pool block of sizeof + size bytes) whose
  /// payload the caller writes after it. No receipt.
  static wire_envelope* construct(void* mem, const message_ops* ops, std::uint32_t size) noexcept {
    return ::new (mem) wire_envelope(ops, size, nullptr);
  }
  static void destroy(envelope* e) noexcept;
  /// True when `e` is a wire_envelope.
  [[nodiscard]] static bool is(const envelope* e) noexcept { return e->ops->form == envelope_form::wire; }

 private:
  wire_envelope(const message_ops* o, std::uint32_t n, wire_receipt* r) noexcept : envelope(o), size(n), receipt(r) {}
};

/// Counts and logs a payload that the type's decoder refused (a dead
/// letter, drop_reason::malformed).
void malformed_inbound(actor_cell& self, envelope* e) noexcept;

/// Operations of message M for actor A arriving in wire form: decoded in
/// the receiver's turn.
template <class A, class M>
struct decode_ops {
  static void invoke(actor_cell& self, envelope* e) {
    M value{};
    if (!wire_decode(static_cast<wire_envelope*>(e)->payload(), value)) {
      malformed_inbound(self, e);
      return;
    }
    user_ops<A, M>::run(self, e, value);
  }
  static constexpr message_ops ops{&invoke, &wire_envelope::destroy, &typeid(M), nullptr, wire_of<A, M>(),
                                   envelope_form::wire};
};

/// A message encoded for another node is only ever copied out by its
/// proxy's link; should one reach a local cell, this dead-letters it.
void encoded_reached_local(actor_cell& self, envelope* e);

/// Operations of a wire_envelope that `tell` encoded for remote actor type A.
template <class A, class M>
struct encoded_ops {
  static constexpr message_ops ops{&encoded_reached_local, &wire_envelope::destroy, &typeid(M), nullptr,
                                   wire_of<A, M>(), envelope_form::wire};
};

/// Bytes of a codec's scratch buffer a thread keeps between messages.
inline constexpr std::size_t scratch_keep = 64 * 1024;

/// Encodes `msg` into a wire_envelope on the calling thread. nullptr when
/// encoding failed: the caller queues the message itself and the proxy's
/// link reports the failure as it does for any message.
template <class A, class M>
[[nodiscard]] envelope* encode_for_send(const M& msg) noexcept {
  try {
    if constexpr (protobuf_message<M>) {
      const std::size_t n = msg.ByteSizeLong();
      if (n > UINT32_MAX) return nullptr;
      void* mem = pool::allocate(sizeof(wire_envelope) + n);
      auto* e = wire_envelope::construct(mem, &encoded_ops<A, M>::ops, static_cast<std::uint32_t>(n));
      msg.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(e + 1));
      return e;
    } else {
      thread_local std::string scratch;
      scratch.clear();
      if (scratch.capacity() > scratch_keep) std::string().swap(scratch);  // one huge message pins nothing
      wire_encode(msg, scratch);
      if (scratch.size() > UINT32_MAX) return nullptr;
      return wire_envelope::make(&encoded_ops<A, M>::ops, scratch);
    }
  } catch (...) {
    return nullptr;
  }
}

} // namespace troupe::detail
