#pragma once
/// @file The seam a transport plugs into, stated in actor terms. Users never
/// include this: they get remote handles from `troupe::node`, which are
/// plain `actor_ref<A>` values.
///
/// A remote actor is represented here by a `remote_proxy`: an actor cell
/// whose mailbox is the outgoing queue to that actor. `tell` pushes into it
/// exactly as into a local mailbox (one atomic operation, the same bound
/// and mute backpressure), and the scheduler runs it like any actor,
/// usually right after the sender's turn on the sender's worker. Instead of
/// running handlers, the proxy's turn hands each message, and each control
/// signal (stop, monitor, link, ...), to its `proxy_link`: the transport's
/// link to the proxy's node, which owns everything about the wire (frames,
/// flow credit, buffers). The proxy keeps the actor semantics: who watches
/// the remote actor, which local actors are linked to it, and what they are
/// told when its node is gone.
///
/// A handle outlives a session: when the link to the remote node ends, the
/// proxy's watchers get `down` and its linked actors an exit (node_down), and
/// the proxy is *detached*: every message to it is a node_down dead letter
/// (`tell` says `dead`), a new monitor fires at once. When a new session
/// with the same incarnation of that node comes up, the transport rebinds
/// the proxy to it and the same handle works again; only when that
/// incarnation is gone for good (a new one answered, this node stops) does
/// the proxy close like a stopped actor.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/exit_reason.hpp"

namespace troupe::detail {

class remote_proxy;

/// A control signal a proxy's turn hands its link.
struct control_signal {
  enum class kind : unsigned char {
    stop,       ///< stop the remote actor with `why`
    monitor,    ///< watch the remote actor; its down comes back as remote_down(`ref`)
    demonitor,  ///< stop watching (monitor `ref`)
    link,       ///< local actor `local` linked itself to the remote actor
    unlink,     ///< ... and unlinked
    exit,       ///< local actor `local`, linked to the remote actor, stopped (`why`, `what`)
    down,       ///< local actor `local`, watched by the peer's monitor `ref`, stopped (`why`, `what`)
  };
  kind what;
  std::uint64_t local = 0;
  std::uint64_t ref = 0;
  exit_reason why = exit_reason::normal;
  std::string_view detail{};
};

/// What a remote proxy's turn hands its messages to: the transport's link
/// to the proxy's node. Turns of several proxies of one link may run at once
/// on different workers; the link serialises them.
class proxy_link {
 public:
  virtual ~proxy_link() = default;
  /// Proxy `p`'s turn starts: every call below until end_turn belongs to it.
  /// Called from the proxy's turn.
  virtual void begin_turn(remote_proxy& p) = 0;
  /// The turn's messages are handed over (written, or queued to be).
  /// Called from the proxy's turn, once per begin_turn.
  virtual void end_turn(remote_proxy& p) noexcept = 0;
  /// Inside a turn: true when the link takes another user message now;
  /// false when the connection is congested or the remote actor has no
  /// flow credit left (the proxy then stops taking user messages).
  [[nodiscard]] virtual bool ready(remote_proxy& p) noexcept = 0;
  /// After a turn that stopped on `!ready()` with messages left (between
  /// end_turn and the turn's end): true when the link keeps `p` (a
  /// reference) and calls `p.wake()` once it takes messages again; false
  /// when it takes them already (the proxy runs again at once).
  virtual bool park(remote_proxy& p) = 0;
  /// A user message for the remote actor: the link takes `e` and its reply
  /// slot (an ask), which it must answer eventually. Called from the turn.
  virtual void forward(remote_proxy& p, envelope* e) = 0;
  /// A control signal about the remote actor. Called from the turn.
  virtual void signal(remote_proxy& p, const control_signal& s) = 0;
  /// `p` is being freed (its last reference went). @threadsafe
  virtual void forget(remote_proxy& p) noexcept = 0;
};

/// A local stand-in for actor `remote_id` on the node behind its link.
/// Made and looked up by the transport; shared through actor_ref.
class remote_proxy final : public actor_cell, private executor {
 public:
  /// @note Transport only; `remote_id` 0 is the link's own outbox.
  remote_proxy(system_core* sys, const mailbox_options& opts, std::shared_ptr<proxy_link> link,
               std::uint64_t remote_id, const std::type_info& type);

  [[nodiscard]] std::uint64_t remote_id() const noexcept { return remote_id_; }
  [[nodiscard]] proxy_link& link() const noexcept { return *link_; }

  /// Hands queued messages to the link. Run by the scheduler.
  result resume() override;

  // -- what the remote side did, in actor terms. Each is queued on the
  // -- proxy's system lane (and wakes a parked proxy). @threadsafe
  /// The remote actor's monitor `ref` (made by this proxy) fired. Ref 0
  /// (no monitor has it): the remote actor is gone (the peer dropped a
  /// message to it): the proxy closes for good with `why`, its monitors
  /// fire, and later sends are dead letters.
  void remote_down(std::uint64_t ref, exit_reason why, const std::string& what);
  /// The remote actor, linked to local actor `local`, stopped.
  void remote_exit(std::uint64_t local, exit_reason why, const std::string& what);
  /// The remote actor links itself with local actor `local` (both record it).
  void link_local(actor_cell& local);
  /// The remote actor unlinks itself from local actor `local`.
  void unlink_local(actor_cell& local);
  /// The peer watches local actor `local` under its monitor `ref`: the
  /// `down` comes back to the link as a `down` signal. Usually on the outbox.
  void monitor_local(actor_cell& local, std::uint64_t ref);
  void demonitor_local(actor_cell& local, std::uint64_t ref);
  /// Undoes every monitor this proxy holds on `local` (the peer's session
  /// ended: what it watched here is forgotten in one pass).
  void demonitor_all_local(actor_cell& local);
  /// The session of link `of` ended (nullptr: whichever serves): monitors
  /// get `down` (node_down), linked actors an exit (node_down), and queued
  /// and later messages become node_down dead letters (asks fail with
  /// node_down); `what` says why. Then the proxy is detached until
  /// rebind(), or, `for_good`, closed. A down for a link the proxy no
  /// longer uses changes nothing (it was rebound meanwhile). Idempotent.
  void node_down(std::string what = "node down", const proxy_link* of = nullptr, bool for_good = true) noexcept;
  /// A new session with the same incarnation of the node serves the proxy
  /// through `link`: messages are taken again at once (the proxy forwards
  /// them once it has switched over, in order), monitors and links set from
  /// now on reach the remote actor. Ordered with node_down. @threadsafe
  void rebind(std::shared_ptr<proxy_link> link);
  /// True while messages to the proxy are refused (its node is down and no
  /// session serves it). @threadsafe (a snapshot)
  [[nodiscard]] bool refusing() const noexcept { return box().refusing_all(); }

  /// Runs a proxy its link parked (see proxy_link::park). @threadsafe
  void wake() noexcept { (void)unpark(); }

 protected:
  ~remote_proxy() override;
  void destroy_instance() noexcept override {}
  const std::type_info& type() const noexcept override { return *type_; }
  bool take_refused(envelope* e, send_result& out) noexcept override;

 private:
  // Scheduled on the pool like an actor, holding a reference while it is
  // (nothing else keeps a proxy alive between its turns).
  void notify() noexcept override;
  void notify_hot() noexcept override;
  void on_system(envelope* e);
  void forward_guarded(envelope* e) noexcept;
  void post_event(envelope* e) noexcept;
  void on_event(envelope* e);
  result park(turn t) noexcept;
  /// Tells watchers and linked actors that the node is down.
  void go_down();
  /// Sends `watcher` the `down` of its monitor `id` of this proxy.
  void send_down_to(actor_cell& watcher, const message_ops* down_ops, std::uint64_t id, exit_reason why,
                    const std::string& what);
  /// After a turn that saw the node go down: detached, or closed for good.
  result after_down(turn t) noexcept;
  /// A turn while detached: answers system messages at once, and turns
  /// user messages into dead letters unless a rebind is on its way.
  result detached_turn(turn t) noexcept;
  /// A system message while detached.
  void on_detached_system(envelope* e);
  /// Detached, a user message came: true once the rebind that lets it in
  /// has been taken (the system lane is served until it comes).
  bool await_rebind(turn& t);
  /// Ends a turn that did not close the proxy.
  result end_turn(turn t) noexcept;
  struct remote_watch {
    cell_ptr watcher;
    std::uint64_t id;
    const message_ops* down_ops;
  };
  std::shared_ptr<proxy_link> link_;
  std::uint64_t remote_id_;
  const std::type_info* type_;
  // Owned by the proxy's turn.
  bool down_ = false;      // the node went down in this turn
  bool for_good_ = false;  // ... and the proxy closes
  bool detached_ = false;  // no session serves the proxy
  std::shared_ptr<proxy_link> next_link_;  // a rebind taken, applied when the turn is off the link
  std::string down_what_;
  exit_reason down_why_ = exit_reason::node_down;  // what closing for good tells (the remote actor gone: its reason)
  // Detaching and rebinding (rare): whether senders are refused (the
  // mailbox's refuse_all), decided against how many rebinds are on their
  // way to the turn.
  std::mutex rebind_mx_;
  std::uint32_t rebinds_ = 0;
  std::uint64_t next_ref_ = 1;
  std::unordered_map<std::uint64_t, remote_watch> watches_;
  std::vector<cell_ptr> links_;
};

} // namespace troupe::detail
