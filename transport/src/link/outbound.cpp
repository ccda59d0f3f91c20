#include "link/outbound.hpp"

#include "link/connection.hpp"
#include "node/node_impl.hpp"
#include "protocol/control_codec.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe::transport {

namespace {
void invoke_frame(detail::actor_cell&, detail::envelope* e) {
  delete static_cast<detail::message_envelope<std::string>*>(e);
}
constexpr detail::message_ops frame_ops{&invoke_frame, &detail::destroy_envelope<std::string>, &typeid(std::string),
                                        nullptr, nullptr, detail::envelope_form::other};

/// A user message that can be lent rather than copied: a shared_bytes.
bool holds_shared_bytes(const detail::envelope* e) noexcept {
  return e->ops->form == detail::envelope_form::value && *e->ops->type == typeid(shared_bytes);
}
} // namespace

detail::envelope* make_frame_envelope(std::string frame) {
  return new detail::message_envelope<std::string>(&frame_ops, std::move(frame));
}

// -- the turn --------------------------------------------------------------------------

void outbound_path::begin_turn(detail::remote_proxy& p) {
  c_.writer().lock();
  window_ = p.remote_id() == 0 ? nullptr : c_.proxies().windows().find(p.remote_id());
}

bool outbound_path::ready(detail::remote_proxy&) noexcept {
  if (c_.writer().congested()) return false;
  return window_ == nullptr || window_->units.load(std::memory_order_relaxed) - spent_ > 0;
}

void outbound_path::end_turn(detail::remote_proxy&) noexcept {
  // Spent before the frames go (the flush below): a grant for them always
  // finds them spent, so a window never exceeds initial_credit.
  if (const std::int64_t spent = std::exchange(spent_, 0); spent != 0 && window_ != nullptr) {
    window_->units.fetch_sub(spent, std::memory_order_relaxed);
  }
  window_ = nullptr;
  if (messages_ != 0) {
    c_.writer().add_messages(messages_);
    c_.counters().add(counter::messages_out, messages_);
    c_.counters().add(counter::frames_out, std::exchange(messages_, 0));
  }
  c_.writer().unlock_and_flush();
}

bool outbound_path::park(detail::remote_proxy& p) {
  // After end_turn: the write lock is free. Congested: wait for the drain;
  // else out of credit: wait for a grant.
  frame_writer& w = c_.writer();
  if (w.locked([&] { return w.park(detail::cell_ptr(&p)); })) return true;
  send_windows::window* win = p.remote_id() == 0 ? nullptr : c_.proxies().windows().find(p.remote_id());
  return win != nullptr && c_.proxies().windows().park(*win, p);
}

void outbound_path::forget(detail::remote_proxy& p) noexcept {
  if (p.remote_id() == 0) return c_.forget_outbox(p);
  c_.proxies().forget(p);
}

// -- messages ----------------------------------------------------------------------------

void outbound_path::forward(detail::remote_proxy& p, detail::envelope* e) {
  if (e->ops == &frame_ops) {
    // A frame made off the reader (a reply, a credit grant), through the outbox.
    std::unique_ptr<detail::message_envelope<std::string>> f(static_cast<detail::message_envelope<std::string>*>(e));
    if (c_.writer().closed()) return;
    c_.writer().out() += f->value;  // sizes were checked where the frames were made
    c_.counters().add(counter::frames_out);
    return;
  }
  if (e->ops->wire == nullptr) {
    return dead_letter(e, drop_reason::not_serializable,
                       "the message type cannot cross the network: make it a protobuf message or specialise "
                       "troupe::codec for it");
  }
  send_message(p.remote_id(), e);
}

void outbound_path::dead_letter(detail::envelope* e, drop_reason r, const char* why) {
  c_.core().count_drop(r, *e->ops->type);
  detail::discard(e, r == drop_reason::node_down ? ask_error::node_down : ask_error::exception, why);
}

bool outbound_path::take_ask(detail::envelope* e, std::uint64_t& request) {
  if (e->reply == nullptr) return true;
  const detail::wire_ops* w = e->ops->wire;
  if (w->deliver_reply == nullptr) {
    detail::discard(e, ask_error::exception, "the reply type cannot cross the network");
    return false;
  }
  request = c_.pending().add_ask({e->reply, w->deliver_reply});
  if (request == 0) {
    dead_letter(e, drop_reason::node_down, "the connection to the receiver's node is closed");
    return false;
  }
  e->reply = nullptr;  // the ask is the connection's now
  return true;
}

std::uint32_t outbound_path::type_id_slow(const detail::wire_ops* w, bool& fresh) {
  const auto ins = types_.try_emplace(w, next_type_);
  fresh = ins.second;
  if (fresh) ++next_type_;
  last_type_ = &*ins.first;
  return last_type_->second;
}

void outbound_path::undo(std::size_t start, const detail::wire_ops* w, bool fresh, std::uint64_t request,
                         detail::envelope* e, const char* why) {
  c_.writer().out().resize(start);  // nothing of the frame reaches the peer
  if (fresh) {
    types_.erase(w);
    --next_type_;
    last_type_ = nullptr;
  }
  c_.core().count_drop(drop_reason::not_serializable, *e->ops->type);
  if (auto a = request != 0 ? c_.pending().take_ask(request) : std::nullopt) {
    a->slot->fail(ask_error::exception, why);
    delete a->slot;
  }
  e->ops->destroy(e);
}

void outbound_path::send_message(std::uint64_t target, detail::envelope* e) {
  if (c_.writer().closed()) {
    return dead_letter(e, drop_reason::node_down, "the connection to the receiver's node is closed");
  }
  std::uint64_t request = 0;
  if (e->reply != nullptr && !take_ask(e, request)) return;
  if (c_.polled() && holds_shared_bytes(e) && try_transfer(target, e, request)) [[unlikely]] return;
  const detail::wire_ops* w = e->ops->wire;
  bool fresh = false;
  const std::uint32_t type = type_id(w, fresh);
  const std::string_view name = fresh ? std::string_view(w->name()) : std::string_view();
  std::string& out = c_.writer().out();
  const std::size_t start = out.size();
  std::int64_t cost = 0;
  try {
    if (detail::wire_envelope::is(e)) {
      // Usually encoded already by `tell` on the sender's thread: copy its bytes.
      const std::string_view payload = static_cast<const detail::wire_envelope*>(e)->payload();
      append_encoded_message_frame(out, target, 0, type, name, request, payload);
      cost = credit_cost(payload.size());  // the receiver computes the same
    } else {
      append_message_frame(out, target, 0, type, name, request, [&](std::string& o) {
        const std::size_t before = o.size();
        w->encode(*e, o);
        cost = credit_cost(o.size() - before);
      });
    }
    if (e->trace != nullptr) [[unlikely]] append_frame_trace(out, start, *e->trace);
  } catch (const std::exception& ex) {
    log().error("troupe node {}: encoding a {} failed: {}", c_.node().opts.name, w->name(), ex.what());
    return undo(start, w, fresh, request, e, "the message could not be encoded");
  }
  if (const std::size_t len = out.size() - start - 4; len > c_.peer_max_frame()) [[unlikely]] {
    log().error("troupe node {}: a {} of {} bytes is larger than {} accepts ({} bytes): dropped", c_.node().opts.name,
                w->name(), len, c_.peer_name(), c_.peer_max_frame());
    return undo(start, w, fresh, request, e, "message larger than the peer's maximum frame");
  }
  ++messages_;
  spent_ += cost;
  e->ops->destroy(e);
}

bool outbound_path::try_transfer(std::uint64_t target, detail::envelope* e, std::uint64_t request) {
  using access = detail::shared_bytes_access;
  auto& b = static_cast<detail::message_envelope<shared_bytes>*>(e)->value;
  frame_writer& w = c_.writer();
  // Above max_transfer_bytes it is copied: a peer with our settings would
  // refuse the loan. So is it while many passed descriptors wait for their
  // frames to be written (see max_unwritten_fds).
  if (access::fd(b) < 0 || b.size() < shared_bytes::transfer_threshold || b.size() > c_.node().opts.max_transfer_bytes ||
      !w.may_pass_fd() || !access::seal(b) || !c_.stream().pass_fd(access::fd(b))) {
    return false;
  }
  w.passed_fd();
  const std::size_t start = w.out().size();
  bool fresh = false;
  try {
    const std::uint32_t type = type_id(e->ops->wire, fresh);
    const control::transfer t{b.size(), 0};
    const std::uint64_t loan = c_.lent().lend(std::move(b));  // kept mapped here until the peer gives it back
    append_message_frame(w.out(), target, 0, type, fresh ? std::string_view(e->ops->wire->name()) : std::string_view(),
                         request, [&](std::string& o) { control::put_transfer(o, {t.size, loan}); }, frame_kind::transfer);
    if (e->trace != nullptr) [[unlikely]] append_frame_trace(w.out(), start, *e->trace);
  } catch (const std::exception& ex) {
    // The descriptor went ahead of a frame that will not follow: the peer
    // would pair it with the next TRANSFER. Nothing of the frame goes out,
    // and the connection ends.
    w.out().resize(start);
    if (fresh) {
      types_.erase(e->ops->wire);
      --next_type_;
      last_type_ = nullptr;
    }
    c_.end_soon(close_reason::write_failed, std::string("cannot queue a TRANSFER: ") + ex.what());
    dead_letter(e, drop_reason::node_down, "the message could not be queued for the peer");
    return true;
  }
  c_.node().counters.add(counter::transfers_out);
  ++messages_;
  spent_ += transfer_cost;
  e->ops->destroy(e);
  return true;
}

// -- control signals ---------------------------------------------------------------------

void outbound_path::signal(detail::remote_proxy& p, const detail::control_signal& s) {
  frame_writer& w = c_.writer();
  if (w.closed()) return;
  std::string& out = w.out();
  const std::uint64_t remote = p.remote_id();
  using kind = detail::control_signal::kind;
  switch (s.what) {
    case kind::stop: control::append_stop(out, {remote, s.why}); break;
    case kind::monitor: control::append_monitor(out, {remote, s.ref}); break;
    case kind::demonitor: control::append_demonitor(out, {remote, s.ref}); break;
    case kind::link: control::append_link(out, {remote, s.local}); break;
    case kind::unlink: control::append_unlink(out, {remote, s.local}); break;
    case kind::exit: control::append_exit(out, {remote, s.local, s.why, std::string(s.detail)}); break;
    case kind::down:
      c_.watches().remove(s.local, s.ref);  // the peer's monitor is over
      control::append_down(out, {s.local, s.ref, s.why, std::string(s.detail)});
      break;
  }
  c_.counters().add(counter::frames_out);
}

} // namespace troupe::transport
