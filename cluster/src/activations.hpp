#pragma once
// Private to the cluster: the virtual actors (and singletons) this member
// hosts. An identity is activated here only after an etcd transaction
// created its activation key under this member's lease (create-if-absent:
// at most one activation in the cluster at any time); the key goes with
// the lease, so when this member dies the identity is free for another.
// When the member fences itself, every activation here stops first (the
// lease may expire soon, and another member may then activate them).
// Activations that received nothing for their kind's idle_after are
// passivated: stopped, then their key deleted.
//
// Threads: the I/O thread runs activate, the sweep and deactivate_all;
// add_kind and hosts from any thread (under mx_).
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "membership.hpp"

namespace troupe::cluster_detail {

/// Makes the actor for `identity` and exposes it on the node (so members
/// can resolve it by id); its cell.
using factory_fn = std::function<detail::cell_ptr(const std::string& identity)>;

/// How an activation request ended: the cell here, or who holds it, or why not.
struct activation_outcome {
  detail::cell_ptr cell;  // active here
  std::string holder;     // another member holds it
  std::string error;
};

class activations : public std::enable_shared_from_this<activations> {
 public:
  activations(node& n, std::shared_ptr<membership> m, std::chrono::milliseconds request_timeout);

  /// Hosts `kind` here from now on; `resolve` makes handles to its actors
  /// on other members (for messages handed over at a passivation). @threadsafe
  void add_kind(const std::string& kind, factory_fn make, resolve_fn resolve, kind_options o);
  [[nodiscard]] resolve_fn resolver_of(const std::string& kind) const;
  /// Where the messages a passivated activation had not handled go (the
  /// router holds them for the identity's next activation). Set once, before use.
  void on_leftover(std::function<bool(const std::string& kind, const std::string& identity, detail::envelope* e)> f) {
    leftover_ = std::move(f);
  }
  [[nodiscard]] bool hosts(const std::string& kind) const;

  using done_fn = std::function<void(activation_outcome)>;
  /// Activates `identity` of `kind` here, or says who holds it. The I/O thread.
  void activate(const std::string& kind, const std::string& identity, done_fn done);
  /// Stops every activation here (fenced, lease lost, leaving). The I/O thread.
  void deactivate_all(const char* why);
  /// Activations here now (a snapshot). @threadsafe
  [[nodiscard]] std::size_t active() const;
  [[nodiscard]] std::uint64_t passivated() const noexcept { return passivated_.load(std::memory_order_relaxed); }
  void stop();

 private:
  using key = std::pair<std::string, std::string>;
  struct kind_entry {
    factory_fn make;
    resolve_fn resolve;
    kind_options opts;
  };
  struct activation {
    detail::cell_ptr cell;
    std::uint32_t pushes = 0;
    std::chrono::milliseconds idle{0};
    std::int64_t revision = 0;  // its key's mod revision, as this activation wrote it
  };
  /// One transaction: create the key (`reclaim` 0) or rewrite it if its mod
  /// revision is still `reclaim`; otherwise read who holds it.
  void attempt(const key& k, std::int64_t reclaim);
  void created(const key& k, const etcd::TxnResponse& r);
  void finish(const key& k, const activation_outcome& o);
  void start_here(const key& k, std::int64_t revision);
  void arm_sweep();
  void sweep();
  void passivate(const key& k);
  [[nodiscard]] std::string activation_key(const key& k) const;

  node& node_;
  std::shared_ptr<membership> m_;
  const std::chrono::milliseconds timeout_;
  asio::steady_timer sweep_timer_;
  std::chrono::milliseconds sweep_every_{0};
  bool stopping_ = false;
  std::map<key, activation> table_;                 // the I/O thread's
  std::map<key, std::vector<done_fn>> in_flight_;   // the I/O thread's: transactions not answered yet
  mutable std::mutex mx_;
  std::map<std::string, kind_entry> kinds_;
  std::size_t active_ = 0;
  std::atomic<std::uint64_t> passivated_{0};
  std::function<bool(const std::string&, const std::string&, detail::envelope*)> leftover_;
};

} // namespace troupe::cluster_detail
