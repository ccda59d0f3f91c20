#pragma once
/// @file The one allocation a message costs: an envelope holding the value.
///
/// Where a message lives and who frees it: `tell` allocates the envelope on
/// the sending thread; the mailbox owns it while queued; the receiver's
/// worker frees it after the handler returns (or the dead-letter path does).

#include <cstdint>
#include <string>
#include <string_view>
#include <typeinfo>

#include "troupe/mailbox/block_pool.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/mailbox/mpsc_queue.hpp"

namespace troupe {
struct trace_context;
}

namespace troupe::detail {

class actor_cell;
struct envelope;

struct reply_slot_base;

/// How a message crosses a process boundary (see wire.hpp). Made at compile
/// time for message types that are protobuf messages or have a codec.
struct wire_ops {
  /// The type's name on the wire.
  const std::string& (*name)();
  /// Appends the message's bytes to `out`. Called by a transport on its own
  /// thread while it owns the envelope.
  void (*encode)(const envelope& e, std::string& out);
  /// For an ask: decodes the reply from `bytes` and delivers it into `slot`.
  /// False (slot untouched) when the bytes are malformed. nullptr when the
  /// handler replies nothing, or replies a type that cannot cross.
  bool (*deliver_reply)(reply_slot_base& slot, std::string_view bytes);
};

/// Which envelope carries a message, for code that looks inside one
/// without knowing its type (a spill mailbox, a transport).
enum class envelope_form : unsigned char {
  value,  ///< a message_envelope<M> holding the value (what `tell` makes)
  wire,   ///< a wire_envelope holding its encoded bytes
  other,  ///< anything else (system messages, a transport's own envelopes)
};

/// The operations of one (receiver type, message type) pair, made at compile
/// time by `tell`: dispatch needs no run-time type lookup.
struct message_ops {
  /// Runs the handler (or the system action) and frees the envelope, also
  /// when it throws. Called on the receiver's thread.
  void (*invoke)(actor_cell& self, envelope* e);
  /// Frees the envelope without running it.
  void (*destroy)(envelope* e) noexcept;
  /// The message's type, for logs.
  const std::type_info* type;
  /// For system messages with something to say when their target is gone
  /// (a monitor request answers with `down`): called instead of `destroy`
  /// with the stopped target; must free the envelope. Usually nullptr.
  void (*undelivered)(actor_cell& target, envelope* e) noexcept = nullptr;
  /// How the message crosses the network; nullptr when it cannot.
  const wire_ops* wire = nullptr;
  envelope_form form = envelope_form::value;
};

/// Where the reply of an ask goes. Used exactly once, then deleted.
/// (Declared above for wire_ops.)
struct reply_slot_base {
  virtual ~reply_slot_base() = default;
  /// Reports that no reply will come.
  virtual void fail(ask_error code, std::string message) noexcept = 0;
};

template <class R>
struct reply_slot : reply_slot_base {
  /// Delivers the reply.
  virtual void deliver(R&& value) noexcept = 0;
};

void free_trace(trace_context* t) noexcept;

/// Header of every message: queue link, operations, optional reply slot.
struct envelope : mpsc_node, pool::pooled {
  explicit envelope(const message_ops* o) noexcept : ops(o) {}
  ~envelope() {
    if (trace != nullptr) [[unlikely]] free_trace(trace);
  }
  envelope(const envelope&) = delete;
  envelope& operator=(const envelope&) = delete;
  const message_ops* ops;
  reply_slot_base* reply = nullptr;
  /// When it was queued (steady clock, ns), for an actor with per-actor
  /// metrics (system_config::actor_metrics); 0 for every other receiver.
  std::uint64_t sent_ns = 0;
  /// The sender's trace context (see troupe/actors/trace.hpp), owned; null
  /// when the sender had none.
  trace_context* trace = nullptr;
};

/// Gives `e` the context of this thread's sends (tls_trace, not null),
/// unless it has one (a message from the network keeps its sender's).
void attach_trace(envelope* e);
/// Gives `e` the context in its wire form (put_trace: the Envelope's field
/// 7, a spilled record's); one that does not read (zero ids) starts no trace.
void adopt_wire_trace(envelope* e, std::string_view wire);

/// An envelope carrying a value of type M.
template <class M>
struct message_envelope final : envelope {
  template <class... Args>
  explicit message_envelope(const message_ops* o, Args&&... args) : envelope(o), value(std::forward<Args>(args)...) {}
  M value;
};

template <class M>
void destroy_envelope(envelope* e) noexcept {
  delete static_cast<message_envelope<M>*>(e);
}

/// Fails the reply slot (if any) and frees the envelope.
inline void discard(envelope* e, ask_error code, const char* why) noexcept {
  if (e->reply != nullptr) {
    e->reply->fail(code, why);
    delete e->reply;
    e->reply = nullptr;
  }
  e->ops->destroy(e);
}

} // namespace troupe::detail
