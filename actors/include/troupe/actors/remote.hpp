#pragma once
/// @file The seam a transport plugs into. Users never include this: they get
/// remote handles from `troupe::node` (transport component), which are plain
/// `actor_ref<A>` values.
///
/// A remote actor is represented locally by a `remote::proxy`: an actor cell
/// whose mailbox is the outgoing queue to that actor. `tell` pushes into it
/// exactly as into a local mailbox (one exchange, the same bound and mute
/// backpressure), and the scheduler runs it like any actor: usually right
/// after the sender's turn, on the sender's worker. Instead of running
/// handlers, the proxy's turn hands each message to its `port` (the
/// transport's session with the peer node), which encodes the whole batch
/// and writes it with one syscall. Monitors, links and stops sent to a proxy
/// become calls on the port too; the transport turns them into control frames.
///
/// Inbound, the transport pushes a `wire_envelope` (the payload bytes, one
/// pooled allocation) into the receiver's mailbox; the receiver decodes it
/// in its own turn, so a decoded message is allocated and freed on one thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "troupe/actors/ask_future.hpp"
#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/exit_reason.hpp"
#include "troupe/actors/shared_bytes.hpp"
#include "troupe/actors/detail/wire_envelope.hpp"
#include "troupe/actors/wire.hpp"

namespace troupe {

/// The message types an actor accepts from other nodes. Declare it in the
/// actor class to let it be published on a node:
/// `using remote_interface = troupe::accepts<join, say>;`
/// Each type must be handled by the actor and be a protobuf message or have
/// a `codec`; so must the reply of each handler that returns one.
template <class... M>
struct accepts {};

namespace remote {

class proxy;

/// The transport's session with one peer node. A proxy's turn calls
/// `begin_turn`, then any of the `send_*` for each message, then `end_turn`
/// (which writes what the turn produced); turns of several proxies may run
/// at once on different workers, so the port serialises them itself.
class port {
 public:
  virtual ~port() = default;
  virtual void begin_turn() = 0;
  virtual void end_turn() noexcept = 0;
  /// Inside a turn: true when the connection has more unwritten bytes than
  /// it wants; the proxy then stops taking user messages.
  [[nodiscard]] virtual bool congested() const noexcept = 0;
  /// After a congested turn: true when still congested, and then the port
  /// keeps `p` (a reference) and calls `p.wake()` once it has drained.
  /// False when it drained meanwhile (the proxy goes on).
  virtual bool wait_writable(proxy& p) = 0;
  /// A user message for remote actor `target`; `e->ops->wire` is set. Takes
  /// `e` and its reply slot (an ask), which it must answer eventually.
  /// The credit the message used (its `credit_cost`) when it went to the
  /// peer; 0 when it did not.
  virtual std::int64_t send_message(std::uint64_t target, detail::envelope* e) = 0;
  virtual void send_stop(std::uint64_t target, exit_reason why) = 0;
  /// Remote monitor `ref` on `target`; answered by a down (see proxy::remote_down).
  virtual void send_monitor(std::uint64_t target, std::uint64_t ref) = 0;
  virtual void send_demonitor(std::uint64_t target, std::uint64_t ref) = 0;
  /// Local actor `local` linked to / unlinked from remote actor `target`.
  virtual void send_link(std::uint64_t target, std::uint64_t local) = 0;
  virtual void send_unlink(std::uint64_t target, std::uint64_t local) = 0;
  /// Local actor `local`, linked to remote `target`, stopped.
  virtual void send_exit(std::uint64_t target, std::uint64_t local, exit_reason why, const std::string& what) = 0;
  /// Local actor `local`, watched by the peer's monitor `ref`, stopped.
  virtual void send_down(std::uint64_t local, std::uint64_t ref, exit_reason why, const std::string& what) = 0;
  /// A frame made by the transport on another thread (see make_raw_frame).
  virtual void send_raw(std::string&& frame) = 0;
  /// `p` is being freed (its last handle went). @threadsafe
  virtual void forget(proxy& p) noexcept = 0;
};

/// Type of proxies whose actor type is not known (reverse proxies of links).
struct unknown_actor {};

/// A local stand-in for actor `remote_id` on the peer behind `port`.
/// Created and looked up by the transport; shared through actor_ref.
class proxy final : public detail::actor_cell, private detail::executor {
 public:
  proxy(detail::system_core* sys, const mailbox_options& opts, std::shared_ptr<port> p, std::uint64_t remote_id,
        const std::type_info& type);

  [[nodiscard]] std::uint64_t remote_id() const noexcept { return remote_id_; }

  /// Hands queued messages to the port. Run by the scheduler.
  result resume() override;

  // -- events from the peer: queued on the proxy's system lane. @threadsafe --
  /// The peer's monitor `ref` (made by this proxy) fired.
  void remote_down(std::uint64_t ref, exit_reason why, const std::string& what);
  /// The remote actor and local actor `local` are linked (the peer asked).
  void remote_link(detail::actor_cell& local);
  /// The link between the remote actor and local `local` is gone.
  void remote_unlink(std::uint64_t local);
  /// The remote actor (or, for a reverse proxy, the peer's actor) stopped
  /// while linked to local actor `local`.
  void remote_exit(std::uint64_t local, exit_reason why, const std::string& what);
  /// The receiver granted `messages` more flow credit.
  void remote_credit(std::int64_t messages);

  /// Schedules a proxy the port parked (see port::wait_writable). @threadsafe
  void wake() noexcept { notify(); }

  /// The peer is gone for good: queued and later messages become dead
  /// letters (node_down), asks fail with node_down, monitors get `down`
  /// (node_down), linked actors an exit (node_down); `what` says why.
  /// Idempotent.
  void node_down(std::string what = "node down") noexcept;

 protected:
  ~proxy() override;
  void destroy_instance() noexcept override {}
  const std::type_info& type() const noexcept override { return *type_; }

 private:
  // Scheduled on the pool like an actor, holding a reference while it is
  // (nothing else keeps a proxy alive between its turns).
  void notify() noexcept override;
  void notify_hot() noexcept override;
  void forward(detail::envelope* e, bool system);
  void forward_guarded(detail::envelope* e, bool system) noexcept;
  void post_event(detail::envelope* e) noexcept;
  void on_event(detail::envelope* e);
  void go_down();
  struct remote_watch {
    detail::cell_ptr watcher;
    std::uint64_t id;
    const detail::message_ops* down_ops;
  };
  std::shared_ptr<port> port_;
  std::uint64_t remote_id_;
  const std::type_info* type_;
  // Owned by the proxy's turn.
  bool down_ = false;
  bool holding_ = false;  // parked (congested connection, or no credit) with a token kept
  std::int64_t credit_ = initial_credit;  // units the receiver still takes (id 0: unlimited)
  std::atomic<bool> waiting_credit_{false};
  std::string down_what_;
  std::uint64_t next_ref_ = 1;
  std::unordered_map<std::uint64_t, remote_watch> watches_;
  std::vector<detail::cell_ptr> links_;
};

/// Wraps a complete frame made on any thread so that a proxy can carry it
/// to `port::send_raw` in order with its other messages.
detail::envelope* make_raw_frame(std::string frame);

/// System messages a port sends to local actors on behalf of the peer.
/// `watcher` is the port's own proxy: the `down` comes back to the port as
/// `send_down(local, ref, ...)`.
detail::envelope* make_remote_monitor(const detail::cell_ptr& watcher, std::uint64_t ref);
detail::envelope* make_remote_demonitor(const detail::actor_cell* watcher, std::uint64_t ref);
/// Links the receiving local actor with `peer_actor` (a proxy).
detail::envelope* make_link_request(const detail::cell_ptr& peer_actor);
detail::envelope* make_unlink_request(const detail::actor_cell* peer_actor);

/// Where replies to asks from the peer go. Implemented by the transport.
class reply_sink {
 public:
  virtual ~reply_sink() = default;
  /// @threadsafe
  virtual void reply(std::uint64_t request, std::string&& payload) noexcept = 0;
  /// @threadsafe
  virtual void reply_error(std::uint64_t request, ask_error code, const std::string& message) noexcept = 0;
};

/// A TRANSFER's Envelope payload: the buffer's size and its loan id (two
/// fixed64); the buffer itself is lent, not queued as a copy.
inline constexpr std::size_t transfer_payload_bytes = 16;
/// Credit a TRANSFER costs.
inline constexpr std::int64_t transfer_cost = credit_cost(transfer_payload_bytes);

/// A shared_bytes whose memory a same-host peer handed over (no copy),
/// counted on a credit account like a wire_envelope.
struct transfer_envelope final : detail::envelope {
  transfer_envelope(const detail::message_ops* o, shared_bytes&& v, credit_account* a) noexcept
      : envelope(o), value(std::move(v)), account(a) {
    if (account != nullptr) account->retain();
  }
  static void destroy(detail::envelope* e) noexcept {
    auto* t = static_cast<transfer_envelope*>(e);
    if (t->account != nullptr) t->account->consumed_and_release(transfer_cost);
    delete t;
  }
  shared_bytes value;
  credit_account* account;
};

template <class A>
struct transfer_ops {
  static void invoke(detail::actor_cell& self, detail::envelope* e) {
    detail::user_ops<A, shared_bytes>::run(self, e, static_cast<transfer_envelope*>(e)->value);
  }
  static constexpr detail::message_ops ops{&invoke, &transfer_envelope::destroy, &typeid(shared_bytes), nullptr,
                                           detail::wire_of<A, shared_bytes>()};
  static detail::envelope* adopt(shared_bytes&& value, credit_account* account) {
    return new transfer_envelope(&ops, std::move(value), account);
  }
};

/// A message type that a published actor accepts from the peer.
struct inbound_type {
  const std::string* name;
  /// Operations for its wire_envelope.
  const detail::message_ops* ops;
  /// A protobuf message (its bytes can be checked before they are queued).
  bool protobuf;
  /// For an ask: the slot that sends the reply back. nullptr when the
  /// handler replies nothing.
  detail::reply_slot_base* (*reply_to)(std::shared_ptr<reply_sink> sink, std::uint64_t request);
  /// For shared_bytes: makes the envelope of a buffer handed over without a
  /// copy (counted on `account`). nullptr for every other type.
  detail::envelope* (*adopt)(shared_bytes&& value, credit_account* account) = nullptr;
};

template <class R>
struct sink_reply_slot final : detail::reply_slot<R> {
  sink_reply_slot(std::shared_ptr<reply_sink> s, std::uint64_t r) noexcept : sink(std::move(s)), request(r) {}
  void deliver(R&& v) noexcept override {
    std::string bytes;
    try {
      wire_encode(v, bytes);
    } catch (...) {
      sink->reply_error(request, ask_error::exception, "could not encode the reply");
      return;
    }
    sink->reply(request, std::move(bytes));
  }
  void fail(ask_error code, std::string message) noexcept override { sink->reply_error(request, code, message); }
  std::shared_ptr<reply_sink> sink;
  std::uint64_t request;
};

template <class A, class M>
detail::reply_slot_base* reply_inbound(std::shared_ptr<reply_sink> sink, std::uint64_t request) {
  using R = reply_t<A, M>;
  if constexpr (std::is_void_v<R>) {
    return nullptr;
  } else {
    return new sink_reply_slot<R>(std::move(sink), request);
  }
}

template <class A, class M>
inbound_type inbound_for() {
  static_assert(handles<A, M>, "troupe: a type in remote_interface has no handler in the actor (add `on(M)`)");
  static_assert(wire_type<M>,
                "troupe: a type in remote_interface cannot cross the network: make it a protobuf message or "
                "specialise troupe::codec<M>");
  using R = reply_t<A, M>;
  static_assert(std::is_void_v<R> || wire_type<R>,
                "troupe: the reply of a handler in remote_interface cannot cross the network: make it a protobuf "
                "message or specialise troupe::codec<R>");
  if constexpr (std::is_same_v<M, shared_bytes>) {
    return inbound_type{&wire_name<M>(), &inbound_ops<A, M>::ops, false, &reply_inbound<A, M>, &transfer_ops<A>::adopt};
  } else {
    return inbound_type{&wire_name<M>(), &inbound_ops<A, M>::ops, protobuf_message<M>, &reply_inbound<A, M>};
  }
}

template <class A>
concept exposable = requires { typename A::remote_interface; };

template <class A, class List>
struct interface_of;
template <class A, class... M>
struct interface_of<A, accepts<M...>> {
  static std::vector<inbound_type> list() { return {inbound_for<A, M>()...}; }
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

/// The message types actor A accepts from other nodes.
template <class A>
std::vector<inbound_type> accepted_types() {
  static_assert(exposable<A>,
                "troupe: to publish an actor on a node, declare the messages it accepts from other nodes in the "
                "actor class: `using remote_interface = troupe::accepts<M1, M2>;`");
  if constexpr (exposable<A>) {
    return interface_of<A, typename A::remote_interface>::list();
  } else {
    return {};
  }
}

} // namespace remote
} // namespace troupe
