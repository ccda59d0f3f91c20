#pragma once
/// @file Routers: one handle in front of several actors of one type.
///
/// A `router<A>` is a value (copies share their state) that picks a routee
/// per message, on the sending thread: no extra hop, no extra actor.
/// Strategies: round_robin, random, broadcast (a copy to each),
/// smallest_mailbox (fewest unfinished messages now: see `mailbox::depth`), consistent_hash (the
/// same key always reaches the same routee while the set is unchanged; a
/// message type used with it has a member `routing_key()` whose result
/// std::hash accepts). The routee set is fixed: for workers that are
/// replaced when they crash, route to supervised children (stable handles)
/// or use `worker_pool`.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/actors/actor_ref.hpp"

namespace troupe {

enum class routing : unsigned char { round_robin, random, broadcast, smallest_mailbox, consistent_hash };

/// True when M can be routed by consistent hashing.
template <class M>
concept has_routing_key = requires(const M& m) { std::hash<std::remove_cvref_t<decltype(m.routing_key())>>{}(m.routing_key()); };

template <class A>
class router {
 public:
  /// @throws std::invalid_argument for an empty routee list or an empty handle.
  router(std::vector<actor_ref<A>> routees, routing how) : st_(std::make_shared<state>()) {
    if (routees.empty()) throw std::invalid_argument("router: needs at least one routee");
    for (const auto& r : routees) {
      if (!r) throw std::invalid_argument("router: empty routee handle");
    }
    st_->routees = std::move(routees);
    st_->how = how;
    if (how == routing::consistent_hash) build_ring();
  }

  /// Sends `msg` to the routee the strategy picks (to all for broadcast;
  /// then the result is the worst outcome). @threadsafe
  template <class M>
  send_result tell(M&& msg) const {
    using D = std::remove_cvref_t<M>;
    if (st_->how == routing::broadcast) {
      static_assert(std::is_copy_constructible_v<D>, "troupe: broadcast sends copies: the message must be copyable");
      send_result worst = send_result::ok;
      for (const auto& r : st_->routees) {
        const send_result s = r.tell(D(msg));
        if (static_cast<int>(s) > static_cast<int>(worst)) worst = s;
      }
      return worst;
    }
    return pick(msg).tell(std::forward<M>(msg));
  }

  /// Asks one routee (broadcast asks the first pick of round robin). @threadsafe
  template <class M, class Rep, class Period>
  auto ask(M&& msg, std::chrono::duration<Rep, Period> timeout) const {
    return pick(msg).ask(std::forward<M>(msg), timeout);
  }

  [[nodiscard]] const std::vector<actor_ref<A>>& routees() const noexcept { return st_->routees; }

 private:
  struct state {
    std::vector<actor_ref<A>> routees;
    routing how = routing::round_robin;
    std::atomic<std::uint64_t> next{0};
    std::vector<std::pair<std::uint64_t, std::size_t>> ring;  // (point, routee index), sorted
  };

  static std::uint64_t mix(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
  }

  void build_ring() {
    constexpr std::uint64_t points_per_routee = 64;
    for (std::size_t i = 0; i < st_->routees.size(); ++i) {
      for (std::uint64_t v = 0; v < points_per_routee; ++v) {
        st_->ring.emplace_back(mix(st_->routees[i].id() * 0x9E3779B97F4A7C15ull + v), i);
      }
    }
    std::sort(st_->ring.begin(), st_->ring.end());
  }

  template <class M>
  const actor_ref<A>& pick(const M& msg) const {
    const auto& rs = st_->routees;
    switch (st_->how) {
      case routing::random: {
        thread_local std::minstd_rand rng{std::random_device{}()};
        return rs[rng() % rs.size()];
      }
      case routing::smallest_mailbox: {
        const actor_ref<A>* best = &rs[0];
        for (const auto& r : rs) {
          if (r.mailbox_depth() < best->mailbox_depth()) best = &r;
        }
        return *best;
      }
      case routing::consistent_hash: {
        if constexpr (has_routing_key<M>) {
          const std::uint64_t h = mix(std::hash<std::remove_cvref_t<decltype(msg.routing_key())>>{}(msg.routing_key()));
          auto it = std::lower_bound(st_->ring.begin(), st_->ring.end(), std::make_pair(h, std::size_t{0}));
          if (it == st_->ring.end()) it = st_->ring.begin();
          return rs[it->second];
        } else {
          throw std::logic_error("router: consistent_hash needs a message with routing_key()");
        }
      }
      case routing::round_robin:
      case routing::broadcast:
      default: return rs[st_->next.fetch_add(1, std::memory_order_relaxed) % rs.size()];
    }
  }

  std::shared_ptr<state> st_;
};

} // namespace troupe
