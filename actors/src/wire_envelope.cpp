#include "troupe/actors/detail/wire_envelope.hpp"

#include "troupe/actors/detail/system_core.hpp"

namespace troupe::detail {

wire_envelope* wire_envelope::make(const message_ops* ops, std::string_view payload) {
  void* mem = pool::allocate(sizeof(wire_envelope) + payload.size());
  auto* e = construct(mem, ops, static_cast<std::uint32_t>(payload.size()));
  std::memcpy(static_cast<void*>(e + 1), payload.data(), payload.size());
  return e;
}

void wire_envelope::destroy(envelope* e) noexcept {
  auto* w = static_cast<wire_envelope*>(e);
  const std::size_t n = sizeof(wire_envelope) + w->size;
  if (wire_receipt* r = w->receipt) r->done(w->size);  // handled or dropped: its sender may send more
  w->~wire_envelope();
  pool::deallocate(w, n);
}

void encoded_reached_local(actor_cell&, envelope* e) {
  discard(e, ask_error::actor_stopped, "a message encoded for another node reached a local actor");
}

void malformed_inbound(actor_cell& self, envelope* e) noexcept {
  self.system().count_drop(drop_reason::malformed, *e->ops->type);
  discard(e, ask_error::exception, "the message from the other node did not decode");
}

} // namespace troupe::detail
