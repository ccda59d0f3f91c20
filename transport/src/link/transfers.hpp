#pragma once
// Private to the transport: shared_bytes handed to a same-host peer without
// a copy (a TRANSFER: the buffer's memfd goes beside the frame).
//
// Sending: the buffer is lent, not given; it stays mapped here until the
// peer gives it back (RETURN), then its memory is reused (sealed: the peer
// cannot write it) unless node_options::reuse_returned_buffers is off.
// Receiving: the buffer is mapped privately and queued for the actor in a
// transfer_envelope, counted on the actor's credit account; when the actor
// drops it, a RETURN gives it back to the peer.

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "link/flow_credit.hpp"
#include "link/frame_poster.hpp"
#include "protocol/control_codec.hpp"
#include "troupe/actors/detail/decoders.hpp"
#include "troupe/actors/shared_bytes.hpp"

namespace troupe::transport {

/// Credit a TRANSFER costs (its memory is lent, not queued as a copy).
inline constexpr std::int64_t transfer_cost = credit_cost(control::transfer_payload_bytes);

/// The buffers a connection lent its peer. Its own lock; any thread.
class lent_buffers {
 public:
  /// Keeps `b` mapped until the peer gives it back; its loan id.
  /// @throws std::bad_alloc
  std::uint64_t lend(shared_bytes&& b);
  /// The buffer lent as `loan`, taken back; empty when none was.
  shared_bytes take_back(std::uint64_t loan);
  /// The connection ended: the peer may still map what it was lent (a
  /// closed connection is not a dead process), so it is freed, never reused.
  void end() noexcept;

 private:
  std::mutex mx_;
  std::unordered_map<std::uint64_t, shared_bytes> lent_;
  std::uint64_t next_ = 1;
};

/// Makes the envelope of a buffer a peer lent us: maps `fd` (taken, closed
/// on failure too) as `t.size` bytes, gives it back through `lender` when
/// dropped, and counts it on `account` (one reference taken) until handled.
/// @throws std::runtime_error when the descriptor is not a sealed memfd of
/// that size backed by memory (see shared_bytes::adopt), std::bad_alloc.
detail::envelope* adopt_transfer(int fd, const control::transfer& t, const detail::message_decoder& to,
                                 receive_account* account, std::shared_ptr<bytes_lender> lender);

/// Gives buffers lent to us back to their lender (a RETURN frame through
/// the outbox) when the actors here drop them.
std::shared_ptr<bytes_lender> make_lender(std::weak_ptr<frame_poster> to);

} // namespace troupe::transport
