#pragma once
/// @file The seam a transport plugs into. Users never include this: they get
/// remote handles from `troupe::node` (transport component), which are plain
/// `actor_ref<A>` values.
///
/// A remote actor is represented locally by a `remote::proxy`: an actor cell
/// whose mailbox is the outgoing queue to that actor. `tell` pushes into it
/// exactly as into a local mailbox (one exchange, the same bound and mute
/// backpressure); instead of running handlers, the proxy's turn hands each
/// message to its `port` (the transport's session with the peer node), on the
/// port's own thread. Monitors, links and stops sent to a proxy become calls
/// on the port too; the transport turns them into control frames.

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

/// The transport's session with one peer node. Every call except `schedule`
/// is made on the port's own thread (where `schedule` runs proxies).
class port {
 public:
  virtual ~port() = default;
  /// `p` has work: call `p.resume()` on the port's thread (again while it
  /// returns `yield`). @threadsafe
  virtual void schedule(proxy& p) noexcept = 0;
  /// A user message for remote actor `target`; `e->ops->wire` is set. Takes
  /// `e` and its reply slot (an ask), which it must answer eventually.
  virtual void send_message(std::uint64_t target, detail::envelope* e) = 0;
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

  /// Hands queued messages to the port. @note Port thread only.
  result resume() override;

  // -- events from the peer; port thread only --
  /// The peer's monitor `ref` (made by this proxy) fired.
  void remote_down(std::uint64_t ref, exit_reason why, const std::string& what);
  /// The remote actor and local actor `local` are linked (the peer asked).
  void remote_link(detail::actor_cell& local);
  /// The link between the remote actor and local `local` is gone.
  void remote_unlink(std::uint64_t local);
  /// The remote actor (or, for a reverse proxy, the peer's actor) stopped
  /// while linked to local actor `local`.
  void remote_exit(std::uint64_t local, exit_reason why, const std::string& what);

  /// The peer is gone for good: queued and later messages become dead
  /// letters (node_down), asks fail with node_down, monitors get `down`
  /// (node_down), linked actors an exit (node_down). Idempotent.
  /// @note Port thread only (or after it ended).
  void node_down() noexcept;

 protected:
  ~proxy() override;
  void destroy_instance() noexcept override {}
  const std::type_info& type() const noexcept override { return *type_; }

 private:
  void notify() noexcept override;
  void forward(detail::envelope* e, bool system);
  void forward_guarded(detail::envelope* e, bool system) noexcept;
  struct remote_watch {
    detail::cell_ptr watcher;
    std::uint64_t id;
    const detail::message_ops* down_ops;
  };
  std::shared_ptr<port> port_;
  std::uint64_t remote_id_;
  const std::type_info* type_;
  bool down_ = false;                                        // port thread
  std::uint64_t next_ref_ = 1;                               // port thread
  std::unordered_map<std::uint64_t, remote_watch> watches_;  // port thread
  std::vector<detail::cell_ptr> links_;                      // port thread
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

/// A message type that a published actor accepts from the peer.
struct inbound_type {
  const std::string* name;
  /// A new envelope holding the decoded message, or nullptr when the bytes
  /// are malformed. The envelope's ops are the actor's own.
  detail::envelope* (*decode)(std::string_view payload);
  /// For an ask: the slot that sends the reply back. nullptr when the
  /// handler replies nothing.
  detail::reply_slot_base* (*reply_to)(std::shared_ptr<reply_sink> sink, std::uint64_t request);
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
detail::envelope* decode_inbound(std::string_view payload) {
  auto* e = new detail::message_envelope<M>(&detail::user_ops<A, M>::ops);
  if (!wire_decode(payload, e->value)) {
    delete e;
    return nullptr;
  }
  return e;
}

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
  return inbound_type{&wire_name<M>(), &decode_inbound<A, M>, &reply_inbound<A, M>};
}

template <class A>
concept exposable = requires { typename A::remote_interface; };

template <class A, class List>
struct interface_of;
template <class A, class... M>
struct interface_of<A, accepts<M...>> {
  static std::vector<inbound_type> list() { return {inbound_for<A, M>()...}; }
};

/// The message types actor A accepts from other nodes.
template <class A>
std::vector<inbound_type> interface() {
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
