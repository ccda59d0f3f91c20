#pragma once
// Private to the transport: the proxies of one incarnation of a peer, one
// per remote actor this node has a handle to, and their flow-credit
// windows. Shared by the sessions with that incarnation, one after another
// (the node remembers it weakly): a handle made in one session works in the
// next. Not owning: a proxy lives as long as its handles (and its scheduled
// turns) and forgets itself when freed. Its own lock; any thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "link/flow_credit.hpp"
#include "troupe/actors/detail/remote_proxy.hpp"

namespace troupe::transport {

class connection;

class proxy_table {
 public:
  /// Proxies of remote actors get mailboxes of `capacity` (mute_sender);
  /// a peer's LINKs may make at most `max_linked` proxies (one per remote
  /// actor it links from; node_options::max_peer_links), beyond which a
  /// LINK is a bad frame.
  proxy_table(detail::system_core* core, std::size_t capacity, std::size_t max_linked) noexcept
      : core_(core), capacity_(capacity), max_linked_(max_linked) {}
  [[nodiscard]] std::size_t max_linked() const noexcept { return max_linked_; }

  /// The proxy of remote actor `id` (not 0: each session has its own
  /// outbox), made with `link` when there is none. Made after the session
  /// ended, it is down at once. @throws std::bad_alloc
  detail::cell_ptr get(std::uint64_t id, const std::type_info& type, const std::shared_ptr<detail::proxy_link>& link);
  /// The proxy of `id`, if one is alive.
  detail::cell_ptr find(std::uint64_t id);
  /// A LINK from the peer names remote actor `id`: false when that would be
  /// one proxy more than max_linked made for LINKs.
  bool admit_linked(std::uint64_t id);
  /// `p` is being freed.
  void forget(detail::remote_proxy& p) noexcept;
  /// The session ended (`for_good`: the incarnation with it): every proxy
  /// alive now, to be told node_down. Proxies made later are down at once,
  /// until a new session resumes the table (never, for good).
  std::vector<detail::cell_ptr> end(bool for_good);
  /// A new session of the same incarnation, `serving`, takes the proxies
  /// over: their windows are full again. Returns every proxy alive, to be
  /// rebound to it. False (and nothing) when the table ended for good.
  [[nodiscard]] bool resume(const std::shared_ptr<connection>& serving, std::vector<detail::cell_ptr>& out);
  /// The session serving the proxies (nothing once it ended and none followed).
  [[nodiscard]] std::shared_ptr<connection> serving();
  /// `c` serves the proxies (the first session of an incarnation).
  void serve(const std::shared_ptr<connection>& c);
  /// True while no proxy is in the table.
  [[nodiscard]] bool empty();
  /// True once the table ended for good.
  [[nodiscard]] bool over();
  /// True while messages wait in a proxy that is still open.
  [[nodiscard]] bool pending_output();
  /// True once every proxy has closed (run its node_down).
  [[nodiscard]] bool all_closed();

  /// The flow-credit windows of the remote actors.
  [[nodiscard]] send_windows& windows() noexcept { return windows_; }

 private:
  detail::cell_ptr find_locked(std::uint64_t id);
  /// Every proxy not being freed, with a reference each.
  std::vector<detail::cell_ptr> alive_locked();
  detail::system_core* core_;
  std::size_t capacity_;
  std::size_t max_linked_;
  std::mutex mx_;
  bool ended_ = false;
  bool for_good_ = false;
  std::weak_ptr<connection> serving_;
  std::unordered_map<std::uint64_t, detail::remote_proxy*> proxies_;
  std::unordered_set<std::uint64_t> linked_;  // remote actors whose proxy a LINK made
  send_windows windows_;
};

} // namespace troupe::transport
