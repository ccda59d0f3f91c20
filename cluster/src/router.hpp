#pragma once
// Private to the cluster: the sending side of virtual actors. Finds where
// an identity lives: the owner by rendezvous hashing over the members that
// host its kind (the oldest such member for a singleton); activated here
// when that is this member, otherwise by asking the owner's activator; when
// the owner says another member holds it (its member list differed for a
// moment), that one is asked instead.
//
// Threads: slot() and resolve() from any thread; the rest on the I/O thread.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "activations.hpp"
#include "activator.hpp"
#include "troupe/cluster/detail/identity_slot.hpp"

namespace troupe::cluster_detail {

class router : public std::enable_shared_from_this<router> {
 public:
  router(actor_system& sys, node& n, std::shared_ptr<membership> m, std::shared_ptr<activations> a,
         std::chrono::milliseconds request_timeout);

  /// The slot of (kind, identity), shared by every handle to it on this member.
  std::shared_ptr<identity_slot> slot(const std::string& kind, const std::string& identity, resolve_fn resolve,
                                      std::size_t max_held);
  /// Finds where `s` lives and tells it (activated or failed). Any thread.
  void resolve(std::shared_ptr<identity_slot> s);
  /// A held message given up (no activation): a dead letter.
  void count_not_activated(const identity_slot& s);
  /// A message refused: max_held were held for its identity already.
  void count_refused(const identity_slot& s);
  /// Holds `e` (a message a passivated activation of (kind, identity) had
  /// not handled) for the identity's next activation: false when it cannot
  /// (the kind is not hosted here, or the cluster is stopping). Any thread.
  bool rehome(const std::string& kind, const std::string& identity, detail::envelope* e);
  /// Marks `kind` as a singleton's: placed on the oldest member hosting it.
  void singleton_kind(const std::string& kind);
  void stop();

  [[nodiscard]] std::uint64_t activations_asked() const noexcept { return asked_.load(std::memory_order_relaxed); }

 private:
  /// Asks `member` (this one, or another) for the identity; `hops` counts
  /// redirections to a holder.
  void try_at(const std::shared_ptr<identity_slot>& s, const std::string& member, int hops);
  void ask_remote(const std::shared_ptr<identity_slot>& s, const std::string& member, int hops);
  void answered(const std::shared_ptr<identity_slot>& s, const std::string& member, int hops,
                result<cluster_records::activated> r);
  void with_activator(const std::string& member, std::function<void(result<actor_ref<activator>>)> then);

  actor_system& sys_;
  node& node_;
  std::shared_ptr<membership> m_;
  std::shared_ptr<activations> acts_;
  const std::chrono::milliseconds timeout_;
  std::atomic<std::uint64_t> asked_{0};
  std::map<std::string, std::pair<std::uint64_t, actor_ref<activator>>> activators_;  // I/O thread: by member, with its incarnation
  bool stopping_ = false;
  std::mutex mx_;
  std::map<std::pair<std::string, std::string>, std::weak_ptr<identity_slot>> slots_;
  std::map<std::string, bool> singletons_;
};

} // namespace troupe::cluster_detail
