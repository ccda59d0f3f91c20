#pragma once
// Private to the transport: what a connection waits for from its peer. The
// asks its proxies sent (answered by REPLY frames) and the lookups callers
// wait on (answered by LOOKUP_REPLY). Its own lock; any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
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

/// A lookup a caller waits on (cv), or has `then` run when it ends.
struct lookup_state {
  lookup_state() = default;
  lookup_state(const lookup_state&) = delete;
  lookup_state& operator=(const lookup_state&) = delete;
  /// Never finished (dropped unanswered): `then` still runs, once.
  ~lookup_state() { finish(std::nullopt, ask_error::node_down, "the connection is gone"); }

  std::mutex mx;
  std::condition_variable cv;
  bool done = false;
  std::optional<control::lookup_reply> answer;  ///< set when answered
  std::error_code code;                         ///< why not: node_down, or timeout
  std::string error;
  /// Runs once, on the thread that finishes the lookup (set before it is sent).
  std::function<void(lookup_state&)> then;

  /// The answer, or why there is none; the first call wins. Any thread.
  void finish(std::optional<control::lookup_reply> a, std::error_code ec, std::string why);
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

  /// Registers lookup `l` (its `then` already set) under a new request id;
  /// false when the connection ended. @throws std::bad_alloc
  bool add_lookup(std::shared_ptr<lookup_state> l, std::uint64_t& id);
  /// Hands the answer to whoever waits on lookup `r.request` (none: timed out).
  void answer_lookup(control::lookup_reply&& r);
  /// Lookup `id` ends unanswered with `code` (its timeout, say), if it is
  /// still waiting.
  void fail_lookup(std::uint64_t id, std::error_code code, const std::string& why);

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
