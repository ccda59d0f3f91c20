#pragma once
/// @file Drives a remote proxy turn by turn, with no pool and no threads:
/// `proxy_turns` is the proxy's executor (actor_cell::set_executor), so a
/// turn runs only when the test calls run(); `recording_link` is the link
/// it hands its messages and signals to, with readiness and parking the
/// test decides. Protocol logic is then tested step by step, without races
/// or sleeps.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "troupe/actors/actor_system.hpp"
#include "troupe/actors/detail/remote_proxy.hpp"
#include "troupe/actors/detail/wire_envelope.hpp"

namespace troupe::test {

/// What a proxy's turns gave their link.
class recording_link final : public detail::proxy_link {
 public:
  /// Whether the link takes another user message (false: congested, or no credit).
  bool ready_now = true;
  /// What park() answers: true keeps the proxy (it must be woken), false
  /// sends it on at once.
  bool keep_parked = true;

  std::vector<std::string> forwarded;  ///< payloads of wire envelopes, or "<type name>" of others
  std::vector<detail::control_signal> signals;
  std::vector<std::string> detail_texts;  ///< each signal's detail, copied
  std::vector<detail::cell_ptr> parked;   ///< proxies park() kept (their references: see wake_parked)
  int turns = 0;
  /// Proxies freed: the last reference may go on any thread (a watcher's
  /// on a worker, a handle's on the test's), so it is atomic.
  std::atomic<int> forgotten{0};

  /// Wakes the parked proxies and lets go of them, as a real link does when
  /// it takes messages again (or ends): holding them would keep each proxy,
  /// and through it this link, alive for good.
  void wake_parked() {
    auto ps = std::move(parked);
    parked.clear();
    for (auto& p : ps) static_cast<detail::remote_proxy&>(*p).wake();
  }

  void begin_turn(detail::remote_proxy&) override { ++turns; }
  void end_turn(detail::remote_proxy&) noexcept override {}
  bool ready(detail::remote_proxy&) noexcept override { return ready_now; }
  bool park(detail::remote_proxy& p) override {
    if (!keep_parked) return false;
    parked.emplace_back(&p);
    return true;
  }
  void forward(detail::remote_proxy&, detail::envelope* e) override {
    if (detail::wire_envelope::is(e)) {
      forwarded.emplace_back(static_cast<detail::wire_envelope*>(e)->payload());
    } else {
      forwarded.push_back(std::string("<") + e->ops->type->name() + ">");
    }
    detail::discard(e, ask_error::exception, "recorded");  // an ask's slot answers at once
  }
  void signal(detail::remote_proxy&, const detail::control_signal& s) override {
    signals.push_back(s);
    detail_texts.emplace_back(s.detail);
  }
  void forget(detail::remote_proxy&) noexcept override { ++forgotten; }
};

/// A proxy's turns, run by hand. Like the pool, a scheduled turn holds a
/// reference (a proxy's notify takes one, its idle turn end lets it go).
class proxy_turns final : public detail::executor {
 public:
  /// A proxy for remote actor `remote_id` of type A, with `link`, run by this.
  template <class A>
  static std::pair<std::unique_ptr<proxy_turns>, detail::cell_ptr> make(actor_system& sys,
                                                                       std::shared_ptr<detail::proxy_link> link,
                                                                       std::uint64_t remote_id,
                                                                       std::size_t capacity = 64) {
    mailbox_options mo;
    mo.capacity = capacity;
    mo.low_water = capacity / 2;
    auto* p = new detail::remote_proxy(&detail::system_access::core(sys), mo, std::move(link), remote_id, typeid(A));
    auto turns = std::unique_ptr<proxy_turns>(new proxy_turns(*p));
    return {std::move(turns), detail::cell_ptr::adopt(p)};
  }

  /// Any thread (a local actor may send the proxy a system message).
  void notify() noexcept override {
    cell_.add_ref();  // as remote_proxy::notify: the scheduled turn's reference
    scheduled_.fetch_add(1, std::memory_order_release);
  }

  /// Turns asked for and not yet run.
  [[nodiscard]] int scheduled() const noexcept { return scheduled_.load(std::memory_order_acquire); }
  /// Runs the scheduled turns, and those they ask for again (yield), up to
  /// `max`; returns how many ran.
  int run(int max = 100) {
    int n = 0;
    while (scheduled() > 0 && n < max) {
      scheduled_.fetch_sub(1, std::memory_order_relaxed);
      ++n;
      // A yield asks for the next turn at once; its reference carries over.
      if (cell_.resume() == resumable::result::yield) scheduled_.fetch_add(1, std::memory_order_relaxed);
    }
    return n;
  }

 private:
  explicit proxy_turns(detail::remote_proxy& p) : cell_(p) { p.set_executor(this); }
  detail::remote_proxy& cell_;
  std::atomic<int> scheduled_{0};
};

} // namespace troupe::test
