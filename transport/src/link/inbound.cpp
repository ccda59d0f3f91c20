#include "link/inbound.hpp"

#include <unistd.h>

#include "link/connection.hpp"
#include "node/node_impl.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe::transport {

namespace {
/// Closes a TRANSFER's buffer unless something took it.
struct owned_fd {
  int fd = -1;
  ~owned_fd() {
    if (fd >= 0) ::close(fd);
  }
};
} // namespace

inbound_path::~inbound_path() {
  for (auto& [id, a] : accounts_) a->release();
}

void inbound_path::end() noexcept {
  flush();
  cache_.clear();
  last_ = nullptr;
}

void inbound_path::count_read() noexcept { c_.counters().add(counter::messages_in, std::exchange(messages_, 0)); }

detail::actor_cell* inbound_path::exposed_cell(std::uint64_t id, remote_control needs, bool* refused) {
  const target* to = exposed(id, c_.node().directory.generation());
  const bool denied = to != nullptr && !to->ex->grants(needs);
  if (refused != nullptr) *refused = denied;
  return to != nullptr && !denied ? to->ex->cell.get() : nullptr;
}

const inbound_path::target* inbound_path::stopped(std::uint64_t id) {
  (void)c_.node().directory.find(id);  // finds it stopped: forgets it, bumps the generation
  return nullptr;
}

const inbound_path::target* inbound_path::exposed_slow(std::uint64_t id, std::uint64_t gen) {
  if (gen != gen_) {
    flush();  // its cell is held by the cache
    cache_.clear();
    gen_ = gen;
    last_ = nullptr;
  }
  if (last_ != nullptr && last_->first == id) return &last_->second;
  auto it = cache_.find(id);
  if (it == cache_.end()) {
    auto ex = c_.node().directory.find(id);
    if (!ex) return nullptr;  // not cached: a peer cannot grow the cache with made-up ids
    it = cache_.emplace(id, target{std::move(ex), account_for(id)}).first;
  }
  last_ = &*it;
  return &it->second;
}

void inbound_path::return_idle_credit() noexcept {
  std::lock_guard lock(accounts_mx_);
  for (auto& [id, a] : accounts_) a->return_leftover();
}

receive_account* inbound_path::account_for(std::uint64_t id) {
  std::lock_guard lock(accounts_mx_);  // only on a cache miss
  auto [it, fresh] = accounts_.try_emplace(id, nullptr);
  if (fresh) it->second = new receive_account(c_.poster(), id);
  return it->second;
}

inbound_path::type_in* inbound_path::type_of_slow(const envelope_view& v, std::uint64_t gen) {
  if (!v.type_name.empty()) {
    if (v.type_id == 0) return c_.bad_frame("MESSAGE names a type without an id"), nullptr;
    const std::size_t limit = c_.node().opts.max_peer_message_types;
    if (types_.size() >= limit && !types_.contains(v.type_id)) {
      // Each id costs memory for the session's life: a bound the peer broke.
      return c_.bad_frame("more than max_peer_message_types (" + std::to_string(limit) + ") message type ids"), nullptr;
    }
    auto [it, fresh] = types_.try_emplace(v.type_id);
    if (!fresh && it->second.name != v.type_name) {
      return c_.bad_frame("MESSAGE redefines type id " + std::to_string(v.type_id)), nullptr;
    }
    if (fresh) it->second.name.assign(v.type_name);
  }
  auto t = types_.find(v.type_id);
  if (t == types_.end()) return c_.bad_frame("unknown message type id " + std::to_string(v.type_id)), nullptr;
  type_in& ti = t->second;
  if (ti.gen != gen) {
    ti.known = c_.node().directory.knows_type(ti.name);
    ti.gen = gen;
    ti.actor = nullptr;
    ti.decoder = nullptr;
  }
  if (!ti.known) return c_.bad_frame("unknown message type '" + ti.name.substr(0, 128) + "'"), nullptr;
  last_type_ = &ti;
  last_type_id_ = v.type_id;
  return &ti;
}

bool inbound_path::check_transfer(const type_in& t, std::string_view payload, control::transfer& out) {
  // Checked before anything may drop it: a dropped one is given back, and
  // only a well-formed loan can be.
  if (t.name != wire_name<shared_bytes>()) {
    return c_.bad_frame("TRANSFER of " + t.name.substr(0, 128) + ", which is not shared_bytes");
  }
  if (!control::parse_transfer(payload, out)) return c_.bad_frame("malformed TRANSFER");
  if (out.size < shared_bytes::transfer_threshold) {
    return c_.bad_frame("TRANSFER of an impossible size " + std::to_string(out.size));
  }
  if (const std::size_t max = c_.node().opts.max_transfer_bytes; out.size > max) {
    // A sparse memfd costs the peer nothing; every page we touch of it costs us.
    return c_.bad_frame("TRANSFER of " + std::to_string(out.size) + " bytes exceeds max_transfer_bytes (" +
                        std::to_string(max) + ")");
  }
  return true;
}

const inbound_path::target* inbound_path::route(const envelope_view& v, type_in& ti, std::uint64_t gen,
                                                std::int64_t units, const control::transfer* loan) {
  // A dropped TRANSFER's buffer goes back at once: only a well-formed loan can.
  auto give_back = [&] {
    if (loan != nullptr) c_.writer().append([&](std::string& out) { control::append_return(out, loan->loan); });
  };
  const target* to = exposed(v.receiver, gen);
  if (to == nullptr) {
    give_back();
    // No account to charge: drop() grants the credit straight back.
    drop(v.receiver, nullptr, v.request_id, units,
         "no actor " + std::to_string(v.receiver) + " is published on " + c_.node().opts.name);
    return nullptr;
  }
  // Through the account from here on, dropped or delivered: counted until
  // granted back. A peer that ignores FLOW_CREDIT would otherwise grow the
  // mailbox without bound (readers never block, so no mailbox bound stops it).
  if (!to->account->charge(units, limit_)) {
    c_.bad_frame("the peer exceeded its flow credit for actor " + std::to_string(v.receiver) + " (more than " +
                 std::to_string(limit_) + " units not granted back)");
    return nullptr;
  }
  if (ti.actor != to->ex.get()) {
    // This type to another actor than last time: look its decoder up by name.
    auto d = to->ex->accepts.find(ti.name);
    if (d == to->ex->accepts.end()) {
      give_back();
      drop(v.receiver, to, v.request_id, units, "the actor does not accept " + ti.name + " from other nodes");
      return nullptr;
    }
    ti.actor = to->ex.get();
    ti.decoder = &d->second;
  }
  return to;
}

void inbound_path::answer_to(detail::envelope* e, const type_in& t, std::uint64_t request) {
  if (request == 0) return;
  e->reply = t.decoder->reply_to(c_.asker(), request);
  if (e->reply == nullptr) c_.reply_error_now(request, ask_error::exception, "the handler replies nothing");
}

bool inbound_path::on_message(const frame_view& f) {
  envelope_view v;
  if (!decode_envelope(f.body, v)) return c_.bad_frame("malformed MESSAGE");
  const std::uint64_t gen = c_.node().directory.generation();  // once: the caches below are of this generation
  type_in* ti = type_of(v, gen);
  if (ti == nullptr) return false;
  ++messages_;
  const target* to = route(v, *ti, gen, credit_cost(v.payload.size()), nullptr);
  if (to == nullptr) return !c_.stopped();  // dropped (and answered), or a bad frame
  if (ti->decoder->protobuf && !well_formed_protobuf(v.payload)) return c_.bad_frame("malformed payload of " + ti->name);
  auto* e = detail::wire_envelope::make(ti->decoder->ops, v.payload);
  if (!v.trace.empty()) [[unlikely]] detail::adopt_wire_trace(e, v.trace);
  answer_to(e, *ti, v.request_id);
  queue(*to, e);
  return true;
}

bool inbound_path::on_transfer(const frame_view& f) {
  // The buffer was passed ahead of the frame: take it first, whatever
  // becomes of the frame, so the next TRANSFER gets its own.
  owned_fd passed;
  if ((passed.fd = c_.stream().take_fd()) < 0) return c_.bad_frame("TRANSFER without its buffer");
  envelope_view v;
  if (!decode_envelope(f.body, v)) return c_.bad_frame("malformed TRANSFER");
  const std::uint64_t gen = c_.node().directory.generation();
  type_in* ti = type_of(v, gen);
  if (ti == nullptr) return false;
  ++messages_;
  control::transfer tr;
  if (!check_transfer(*ti, v.payload, tr)) return false;
  // What the sender charged: the buffer is lent, not queued as a copy.
  const target* to = route(v, *ti, gen, transfer_cost, &tr);
  if (to == nullptr) return !c_.stopped();
  if (ti->decoder->run_bytes == nullptr) {
    return c_.bad_frame("TRANSFER of " + ti->name.substr(0, 128) + ", which is not shared_bytes");
  }
  detail::envelope* e = nullptr;
  try {
    e = adopt_transfer(std::exchange(passed.fd, -1), tr, *ti->decoder, to->account, c_.lender());
  } catch (const std::exception& ex) {
    return c_.bad_frame(std::string("TRANSFER: ") + ex.what());
  }
  if (!v.trace.empty()) [[unlikely]] detail::adopt_wire_trace(e, v.trace);
  answer_to(e, *ti, v.request_id);
  to->ex->cell->enqueue(e);  // never blocks: readers are never-block threads
  return true;
}

void inbound_path::queue(const target& to, detail::wire_envelope* e) noexcept {
  detail::actor_cell* cell = to.ex->cell.get();
  if (chain_.cell != cell || chain_.count == max_chain) flush();
  e->receipt = to.account;
  if (chain_.count == 0) {
    chain_.cell = cell;
    chain_.first = e;
  } else {
    chain_.last->next.store(e, std::memory_order_relaxed);
  }
  chain_.last = e;
  ++chain_.count;
}

void inbound_path::flush() noexcept {
  if (chain_.count == 0) return;
  const chain c = std::exchange(chain_, chain{});
  // An actor is exposed under one id, so its messages share one account:
  // one reference each, taken here.
  if (c.first->receipt != nullptr) static_cast<receive_account*>(c.first->receipt)->retain(c.count);
  detail::reader_access::enqueue_chain(*c.cell, c.first, c.count);  // never blocks: readers are never-block threads
}

void inbound_path::drop(std::uint64_t receiver, const target* to, std::uint64_t request, std::int64_t units,
                        const std::string& why) {
  flush();  // as in reply_error_now: a credit frame is an answer too
  c_.core().count_drop(drop_reason::not_exposed, typeid(void));
  // The sender's credit comes back all the same: through the actor's
  // account, or at once for an id that is no actor of ours.
  if (to != nullptr) {
    to->account->consumed(units);
  } else {
    c_.writer().append([&](std::string& out) {
      control::append_credit(out, {receiver, static_cast<std::uint64_t>(units)});
    });
    tell_gone(receiver);
  }
  if (request != 0) c_.reply_error_now(request, ask_error::actor_stopped, why);
}

void inbound_path::tell_gone(std::uint64_t receiver) {
  if (told_gone_.contains(receiver)) return;
  if (told_gone_.size() < max_told_gone) told_gone_.insert(receiver);
  c_.writer().append([&](std::string& out) {
    control::append_down(out, {receiver, 0, exit_reason::stopped,
                               "actor " + std::to_string(receiver) + " is not on " + c_.node().opts.name});
  });
}

} // namespace troupe::transport

// -- answering the peer's asks ----------------------------------------------------

namespace troupe::transport {

namespace {
class connection_asker final : public detail::wire_asker {
 public:
  explicit connection_asker(std::weak_ptr<connection> c) : c_(std::move(c)) {}
  void reply(std::uint64_t request, std::string&& payload) noexcept override {
    try {
      auto c = c_.lock();
      if (!c) return;
      std::string f;
      if (payload.size() + control::reply_overhead > c->peer_max_frame()) {
        // The asker's node refuses frames above its maximum: say so instead.
        log().error("troupe: a reply of {} bytes is larger than {} accepts ({} bytes)", payload.size(), c->peer_name(),
                    c->peer_max_frame());
        control::append_reply_error(f, request, ask_error::exception, "the reply is larger than the asker's maximum frame");
      } else {
        control::append_reply(f, request, payload);
      }
      c->post_frame(std::move(f));
    } catch (...) {
    }
  }
  void reply_error(std::uint64_t request, ask_error code, const std::string& message) noexcept override {
    try {
      std::string f;
      control::append_reply_error(f, request, code, message);
      if (auto c = c_.lock()) c->post_frame(std::move(f));
    } catch (...) {
    }
  }

 private:
  std::weak_ptr<connection> c_;
};
} // namespace

std::shared_ptr<detail::wire_asker> make_asker(std::weak_ptr<connection> c) {
  return std::make_shared<connection_asker>(std::move(c));
}

} // namespace troupe::transport
