#pragma once
// Private to the transport: what a connection waits for from its peer. The
// asks its proxies sent (answered by REPLY frames) and the lookups callers
// wait on (answered by LOOKUP_REPLY). Its own lock; any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/control_codec.hpp"
#include "troupe/actors/envelope.hpp"

namespace troupe::transport {

/// An ask sent to the peer, waiting for its REPLY.
struct pending_ask {
  detail::reply_slot_base* slot = nullptr;
  bool (*deliver)(detail::reply_slot_base&, std::string_view) = nullptr;
};

/// A lookup a caller waits on.
struct lookup_state {
  std::mutex mx;
  std::condition_variable cv;
  bool done = false;
  std::optional<control::lookup_reply> answer;  ///< set when answered
  std::string error;                            ///< set when the connection ended first
};

class requests {
 public:
  requests() = default;
  requests(const requests&) = delete;
  requests& operator=(const requests&) = delete;
  /// Fails whatever is still waiting ("node down").
  ~requests();

  /// Registers an ask; its request id, or 0 when the connection ended (the
  /// caller fails the ask). @throws std::bad_alloc
  std::uint64_t add_ask(pending_ask a);
  /// The ask answered by request id `id`, taken out; nullopt when there is
  /// none (answered twice, or failed when the connection ended).
  std::optional<pending_ask> take_ask(std::uint64_t id);

  /// Registers a lookup; its request id and state. nullptr when ended.
  /// @throws std::bad_alloc
  std::shared_ptr<lookup_state> add_lookup(std::uint64_t& id);
  /// Hands the answer to whoever waits on lookup `r.request` (none: timed out).
  void answer_lookup(control::lookup_reply&& r);
  /// The caller gave up on lookup `id`.
  void forget_lookup(std::uint64_t id);

  /// The connection ended: every ask fails with node_down, every lookup
  /// wakes with `what`; later ones are refused.
  void end(const std::string& what) noexcept;

 private:
  std::mutex mx_;
  bool ended_ = false;
  std::unordered_map<std::uint64_t, pending_ask> asks_;
  std::uint64_t next_ask_ = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<lookup_state>> lookups_;
  std::uint64_t next_lookup_ = 1;
};

} // namespace troupe::transport
