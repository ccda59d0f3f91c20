#pragma once
// Private to the cluster: the seam for a second backend. A provider is
// where a cluster keeps the little that must agree, in etcd's v3 key-value
// model (keys, revisions, leases):
//   membership: keys under a lease that goes unless renewed, listed and
//     watched by prefix (membership.cpp);
//   ownership: one transaction that creates a key if absent (or rewrites or
//     deletes it while its revision is still one's own) under the owner's
//     lease (activations.cpp, names.cpp).
// etcd gives both (etcd_client). A DNS-seed provider for Kubernetes
// headless services would give membership only (cluster/README.md): it
// says so with supports_ownership(), and the cluster then refuses kinds,
// singletons and names instead of promising at most one activation it
// cannot keep.
//
// Every call ends exactly once, on the node's I/O thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "etcd/json_stream.hpp"
#include "etcd_api.pb.h"
#include "troupe/actors/send_result.hpp"

namespace troupe::cluster_detail {

class provider {
 public:
  template <class R>
  using done_fn = std::function<void(result<R>)>;

  virtual ~provider() = default;

  // Membership.
  virtual void grant(std::int64_t ttl_seconds, done_fn<etcd::LeaseGrantResponse> done) = 0;
  /// One renewal; a TTL of 0 in the reply: the lease is gone.
  virtual void keep_alive(std::int64_t lease, done_fn<etcd::LeaseKeepAliveResponse> done) = 0;
  virtual void revoke(std::int64_t lease, done_fn<etcd::LeaseRevokeResponse> done) = 0;
  virtual void put(const etcd::PutRequest& req, done_fn<etcd::PutResponse> done) = 0;
  virtual void range(const etcd::RangeRequest& req, done_fn<etcd::RangeResponse> done) = 0;
  /// Watches a prefix from a revision: `on_response` per change, `on_end`
  /// once when it ends (not after the returned stream's close()).
  virtual std::shared_ptr<json_stream> watch(const etcd::WatchCreateRequest& req,
                                             std::function<void(const etcd::WatchResponse&)> on_response,
                                             std::function<void(const std::string& why)> on_end) = 0;

  // Ownership (only when supports_ownership()).
  [[nodiscard]] virtual bool supports_ownership() const noexcept = 0;
  virtual void txn(const etcd::TxnRequest& req, done_fn<etcd::TxnResponse> done) = 0;
  virtual void remove(const etcd::DeleteRangeRequest& req, done_fn<etcd::DeleteRangeResponse> done) = 0;

  /// Fails what is queued and lets go of the connection.
  virtual void close() = 0;
  /// Where it is talking to now (for logs).
  [[nodiscard]] virtual std::string where() const = 0;
};

} // namespace troupe::cluster_detail
