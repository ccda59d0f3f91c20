#pragma once
/// @file The decoder table of an actor type: for each message type its
/// `remote_interface` lists, how bytes of that type become a message for
/// the actor. Built at compile time from the actor's `remote_interface`;
/// read by whoever holds bytes for the actor (a transport reading a
/// connection, a spill mailbox reading its disk). Nothing here knows where
/// the bytes came from.

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/detail/wire_envelope.hpp"
#include "troupe/actors/shared_bytes.hpp"
#include "troupe/actors/wire.hpp"

namespace troupe::detail {

/// Whoever asked a question in wire form: it takes the answer encoded.
/// Implemented by a transport (the answer goes back to the asking node).
class wire_asker {
 public:
  virtual ~wire_asker() = default;
  /// The encoded reply to request `request`. @threadsafe
  virtual void reply(std::uint64_t request, std::string&& bytes) noexcept = 0;
  /// No reply will come, and why. @threadsafe
  virtual void reply_error(std::uint64_t request, ask_error code, const std::string& message) noexcept = 0;
};

/// How bytes of one message type become a message for one actor type.
struct message_decoder {
  /// The type's wire name.
  const std::string* name;
  /// Operations of a wire_envelope holding the type's bytes (decoded in the
  /// receiver's turn).
  const message_ops* ops;
  /// A protobuf message: its bytes can be checked before they are queued.
  bool protobuf;
  /// For an ask: a reply slot that encodes the handler's reply and gives it
  /// to `asker`. nullptr when the handler replies nothing.
  reply_slot_base* (*reply_to)(std::shared_ptr<wire_asker> asker, std::uint64_t request);
  /// For shared_bytes only (else nullptr): hands a buffer carried by any
  /// envelope `e` to the handler, as user_ops::run does (for a buffer whose
  /// memory arrived without a copy).
  void (*run_bytes)(actor_cell& self, envelope* e, shared_bytes& value) = nullptr;
};

/// A reply slot whose reply leaves in wire form.
template <class R>
struct encoding_reply_slot final : reply_slot<R> {
  encoding_reply_slot(std::shared_ptr<wire_asker> a, std::uint64_t r) noexcept : asker(std::move(a)), request(r) {}
  void deliver(R&& v) noexcept override {
    std::string bytes;
    try {
      wire_encode(v, bytes);
    } catch (...) {
      asker->reply_error(request, ask_error::exception, "could not encode the reply");
      return;
    }
    asker->reply(request, std::move(bytes));
  }
  void fail(ask_error code, std::string message) noexcept override { asker->reply_error(request, code, message); }
  std::shared_ptr<wire_asker> asker;
  std::uint64_t request;
};

template <class A, class M>
reply_slot_base* encoding_reply_to(std::shared_ptr<wire_asker> asker, std::uint64_t request) {
  using R = reply_t<A, M>;
  if constexpr (std::is_void_v<R>) {
    return nullptr;
  } else {
    return new encoding_reply_slot<R>(std::move(asker), request);
  }
}

template <class A, class M>
message_decoder decoder_for() {
  static_assert(handles<A, M>, "troupe: a type in remote_interface has no handler in the actor (add `on(M)`)");
  static_assert(wire_type<M>,
                "troupe: a type in remote_interface cannot cross the network: make it a protobuf message or "
                "specialise troupe::codec<M>");
  using R = reply_t<A, M>;
  static_assert(std::is_void_v<R> || wire_type<R>,
                "troupe: the reply of a handler in remote_interface cannot cross the network: make it a protobuf "
                "message or specialise troupe::codec<R>");
  message_decoder d{&wire_name<M>(), &decode_ops<A, M>::ops, protobuf_message<M>, &encoding_reply_to<A, M>};
  if constexpr (std::is_same_v<M, shared_bytes>) d.run_bytes = &user_ops<A, M>::run;
  return d;
}

/// True for an actor type that declares its `remote_interface`.
template <class A>
concept exposable = requires { typename A::remote_interface; };

template <class A, class List>
struct interface_of;
template <class A, class... M>
struct interface_of<A, accepts<M...>> {
  static std::vector<message_decoder> decoders() { return {decoder_for<A, M>()...}; }
  static std::vector<std::string> names() { return {wire_name<M>()...}; }
};

/// For a lookup of interface type I: the wire names the published actor
/// must accept. Empty for an actor type (looked up by its exact type).
template <class I>
std::vector<std::string> required_names() {
  if constexpr (interface_type<I>) {
    static_assert(exposable<I>, "troupe: an interface needs `using remote_interface = troupe::accepts<M...>;`");
    return interface_of<I, typename I::remote_interface>::names();
  } else {
    return {};
  }
}

/// The decoder table of actor type A: one entry per type it accepts.
template <class A>
std::vector<message_decoder> decoders_of() {
  static_assert(exposable<A>,
                "troupe: to publish an actor on a node, declare the messages it accepts from other nodes in the "
                "actor class: `using remote_interface = troupe::accepts<M1, M2>;`");
  if constexpr (exposable<A>) {
    return interface_of<A, typename A::remote_interface>::decoders();
  } else {
    return {};
  }
}

} // namespace troupe::detail
