#pragma once
// Private to the cluster: one member's life in etcd, on the node's I/O
// thread. Joining: grant a lease, write the member key under it, list the
// members, watch the prefix from the revision listed. Staying: renew the
// lease every ttl/3; no renewal for longer than the TTL fences the member;
// a lease etcd no longer has makes it join again under a new epoch. A
// watch that ends (etcd restarted, its endpoint down) is replaced by
// listing again and watching from there; the difference from the table
// held raises the events missed.
//
// Threads: the I/O thread runs everything but the snapshot accessors,
// subscribe and stop (any other thread). Under mx_: the snapshot, the
// subscribers and what wait_joined waits for. Counters are atomics.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "etcd/etcd_client.hpp"
#include "records.pb.h"
#include "troupe/cluster/cluster.hpp"

namespace troupe::cluster_detail {

using member_event = std::variant<member_up, member_down, member_left>;

/// The key prefix of a cluster's members: "/troupe/<cluster>/members/".
[[nodiscard]] std::string members_prefix(const std::string& cluster);
/// A stored record as a member (`since` from the key's create revision).
[[nodiscard]] member member_of(const cluster_records::member& r, std::int64_t since);

class membership : public std::enable_shared_from_this<membership> {
 public:
  membership(node& n, cluster_options opts, std::vector<endpoint> etcd, std::string advertise_host);

  /// Starts joining. Once, from the constructing thread.
  void start();
  /// Leaves gracefully (when `leave`) and stops: nothing of it runs on the
  /// I/O thread once this returns (or after the node stopped). Any thread
  /// but the I/O thread; a second call does nothing.
  void stop(bool leave);

  [[nodiscard]] bool wait_joined(std::chrono::milliseconds timeout) const;
  [[nodiscard]] std::vector<member> members() const;
  [[nodiscard]] bool fenced() const noexcept { return fenced_.load(std::memory_order_acquire); }
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }
  [[nodiscard]] cluster_stats stats() const noexcept;
  void subscribe(detail::cell_ptr who, std::function<void(const member_event&)> deliver);

  /// Hosts `kind` from now on: published with the membership. @threadsafe
  void add_kind(const std::string& kind);
  /// Called on the I/O thread whenever this member fences itself or loses
  /// its lease (activations stop there). Set before start().
  void on_fence(std::function<void(const char*)> f) { on_fence_ = std::move(f); }
  /// Called on the I/O thread after it joined again under a new lease
  /// (not after the first join). Set before start().
  void on_rejoined(std::function<void()> f) { on_rejoined_ = std::move(f); }

  // For the activations and the router, on the I/O thread.
  /// Where the cluster keeps what must agree (etcd).
  [[nodiscard]] provider& store() noexcept { return *store_; }
  [[nodiscard]] std::int64_t lease() const noexcept { return lease_; }
  [[nodiscard]] const std::string& key_prefix() const noexcept { return cluster_prefix_; }
  /// The members that host `kind` now: this one while registered and not
  /// fenced, the others as listed.
  [[nodiscard]] std::vector<const member*> hosting(const std::string& kind);
  /// What a key this member holds under its lease says: this node, its
  /// incarnation, its epoch (cluster_records::holder, serialized).
  [[nodiscard]] std::string holder_record() const;
  /// `h` names this node in this incarnation (any epoch).
  [[nodiscard]] bool is_this_node(const cluster_records::holder& h) const {
    return h.node() == node_.name() && h.incarnation() == node_.incarnation();
  }
  /// A member listed now (this one included while registered), or null.
  [[nodiscard]] const member* find(const std::string& name);

 private:
  struct held {
    member m;
    bool leaving = false;
  };
  struct subscriber {
    detail::cell_ptr who;
    std::function<void(const member_event&)> deliver;
  };

  // The I/O thread's.
  void join();
  void register_self();
  void list();
  void listed(const etcd::RangeResponse& r);
  void watch(std::int64_t from);
  void on_watch(const etcd::WatchResponse& r);
  void watch_ended(const std::string& why);
  void arm_renew(std::chrono::milliseconds delay);
  void renew();
  /// A renewal sent at `sent` succeeded: the fence moves to sent + ttl.
  void renewed(std::chrono::steady_clock::time_point sent);
  void fence(const std::string& why);
  void lost_lease(const std::string& why);
  /// A stored record as a member; nothing (logged) when it is not one.
  [[nodiscard]] std::optional<held> decode(const etcd::KeyValue& kv) const;
  /// This life of this node: its incarnation and its current epoch.
  [[nodiscard]] bool is_self(const member& m) const;
  /// A member's record was written (joined, marked leaving, or another life).
  void changed(held h);
  /// A member's key went: left when its record said it was leaving, else down.
  void gone(const std::string& name);
  void arrived(const held& h);
  void raise_gone(const held& h);
  void set_self(const held& h);
  void raise(member_event e);
  void dial(const member& m);
  void redial(const member& m);
  /// Runs `f` after `delay` on the retry timer (one pending retry at a time).
  void retry(std::chrono::milliseconds delay, void (membership::*f)());
  /// Logs a failure to reach etcd once per outage (then again when it recovers).
  void etcd_trouble(const std::string& what, const std::string& why);
  void etcd_fine();
  [[nodiscard]] std::string self_key() const { return prefix_ + node_.name(); }
  [[nodiscard]] std::string record(bool leaving) const;
  /// Writes this member's record again (its kinds changed).
  void republish();

  node& node_;
  asio::io_context& io_;
  const cluster_options opts_;
  const std::string advertise_;
  const std::string cluster_prefix_;  // /troupe/<cluster>/
  const std::string prefix_;          // /troupe/<cluster>/members/
  const std::unique_ptr<provider> store_;
  asio::steady_timer renew_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer fence_timer_;
  void (membership::*pending_)() = nullptr;  // what the retry timer will run
  std::shared_ptr<json_stream> watch_;
  std::int64_t lease_ = 0;
  std::int64_t since_ = 0;  // our key's create revision
  bool registered_ = false;  // our key is written under lease_
  bool trouble_ = false;     // etcd is failing now (logged once)
  bool stopping_ = false;
  std::map<std::string, held> table_;  // the other members as this member knows them
  std::vector<std::string> kinds_;     // hosted here (published in our record)
  mutable std::size_t written_kinds_ = 0;  // how many of them the last record written had
  member self_;                        // this member as it registered
  std::function<void(const char*)> on_fence_;
  std::function<void()> on_rejoined_;

  // Any thread.
  mutable std::mutex mx_;
  mutable std::condition_variable joined_cv_;
  bool joined_ = false;
  std::map<std::string, member> snapshot_;  // the members listed, this one included once joined
  std::vector<subscriber> subscribers_;
  std::atomic<bool> fenced_{true};  // until it joined, it hosts nothing
  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<bool> stopped_{false};
  struct counters {
    std::atomic<std::uint64_t> joins{0}, renewals{0}, renewal_failures{0}, fenced{0}, watch_restarts{0}, up{0},
        down{0}, left{0}, dial_failures{0};
  } n_;
};

} // namespace troupe::cluster_detail
