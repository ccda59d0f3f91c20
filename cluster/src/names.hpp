#pragma once
// Private to the cluster: cluster-wide names. A name is a key under the
// holder's lease (/troupe/<cluster>/names/<name>, create-if-absent, or
// rewritten by its holder), so it vanishes when its holder dies; the
// actor itself is published on the holder's node under
// "troupe.cluster.name/<name>", so a lookup there checks its type.
// After joining again under a new lease, the names held here are written
// again.
//
// Threads: put, holder, remove and rejoined run on the I/O thread.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "membership.hpp"

namespace troupe::cluster_detail {

/// The node publication a cluster-wide name stands for.
[[nodiscard]] inline std::string published_name(const std::string& name) { return "troupe.cluster.name/" + name; }

class names : public std::enable_shared_from_this<names> {
 public:
  names(node& n, std::shared_ptr<membership> m) : node_(n), m_(std::move(m)) {}

  /// Claims `name` for this member (the actor published already): ok, or
  /// errc::name_taken (another member holds it), or why etcd did not.
  void put(const std::string& name, std::function<void(result<bool>)> done);
  /// The member holding `name`: errc::not_published when nobody does.
  void holder(const std::string& name, std::function<void(result<std::string>)> done);
  /// Gives `name` up if held here.
  void remove(const std::string& name);
  /// Writes every name held here again (a new lease after a rejoin).
  void rejoined();

 private:
  [[nodiscard]] std::string key(const std::string& name) const { return m_->key_prefix() + "names/" + name; }
  void claim(const std::string& name, std::int64_t rewrite, int tries, std::function<void(result<bool>)> done);

  node& node_;
  std::shared_ptr<membership> m_;
  std::map<std::string, bool> held_;  // names held here
};

} // namespace troupe::cluster_detail
