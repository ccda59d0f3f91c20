#pragma once
/// @file Small actors and messages shared by the actors test suites.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <troupe/troupe.hpp>

#include "support/test_support.hpp"

namespace troupe::test {

/// Counts live actor states through a counter the test owns: put one in an
/// actor as a member and the counter is the number of states not yet destroyed.
class live_token {
 public:
  explicit live_token(std::atomic<int>* c) noexcept : c_(c) { c_->fetch_add(1); }
  ~live_token() { c_->fetch_sub(1); }
  live_token(const live_token&) = delete;
  live_token& operator=(const live_token&) = delete;

 private:
  std::atomic<int>* c_;
};

/// A numbered message from one sender.
struct seq_msg {
  int sender = 0;
  int seq = 0;
};

/// Asks a recorder for what it saw.
struct get_seen {};

/// Makes a `blocker` wait at its gate (bounded by `long_wait`).
struct hold {};

/// Returns the thread the handler ran on.
struct where {};

/// Asks a recorder for the largest mailbox depth it saw while handling.
struct get_max_depth {};

/// An actor that records every seq_msg in arrival order (and the largest
/// depth of its own mailbox seen in the handler), and can be held at a
/// gate: its `hold` handler signals `entered`, then waits for `release`.
struct recorder : actor<recorder> {
  recorder(gate* release = nullptr, gate* entered = nullptr) : release_(release), entered_(entered) {}
  void on(seq_msg m) {
    seen.push_back(m);
    const std::uint64_t d = self().mailbox_depth();
    if (d > max_depth) max_depth = d;
  }
  std::uint64_t on(get_max_depth) { return max_depth; }
  std::vector<seq_msg> on(get_seen) { return seen; }
  void on(hold) {
    if (entered_ != nullptr) entered_->open();
    if (release_ != nullptr) released_in_time = release_->wait_for(long_wait);
  }
  std::thread::id on(where) { return std::this_thread::get_id(); }
  std::vector<seq_msg> seen;
  std::uint64_t max_depth = 0;
  bool released_in_time = true;

 private:
  gate* release_;
  gate* entered_;
};

/// What a producer saw while sending to one target.
struct target_report {
  std::int64_t accepted = 0;      ///< ok or muted
  std::int64_t accepted_sum = 0;  ///< sum of the accepted sequence numbers
  std::int64_t refused = 0;       ///< full or dropped
  std::int64_t dead = 0;
  std::int64_t muted = 0;
};

/// Sent by a producer when it has sent everything.
struct producer_report {
  int id = 0;
  std::vector<target_report> targets;
};

using report_inbox = inbox<producer_report>;
using report_ref = actor_ref<report_inbox::actor_type>;

/// Starts (and continues) a producer.
struct go {};

/// Sends `per_target` numbered messages to each target, round robin, in
/// batches of `batch` per turn; a `muted` result ends the turn (as the
/// mute_sender contract asks) and `defer(go)` continues later. Reports to
/// `out` when done.
struct producer : actor<producer> {
  producer(std::vector<actor_ref<recorder>> targets, int id, int per_target, report_ref out, int batch = 64)
      : targets_(std::move(targets)), id_(id), per_target_(per_target), batch_(batch), out_(std::move(out)) {
    report_.id = id;
    report_.targets.resize(targets_.size());
    next_.assign(targets_.size(), 0);
  }
  void on(go) {
    for (int k = 0; k < batch_ && remaining() > 0; ++k) {
      const std::size_t t = cursor_++ % targets_.size();
      if (next_[t] >= per_target_) continue;
      const int seq = next_[t]++;
      auto& rep = report_.targets[t];
      const send_result r = targets_[t].tell(seq_msg{id_, seq});
      switch (r) {
        case send_result::ok:
        case send_result::muted:
          ++rep.accepted;
          rep.accepted_sum += seq;
          break;
        case send_result::full:
        case send_result::dropped: ++rep.refused; break;
        case send_result::dead:
        case send_result::not_serializable: ++rep.dead; break;
      }
      if (r == send_result::muted) {
        ++rep.muted;
        break;
      }
    }
    if (remaining() > 0) {
      defer(go{});
    } else if (!reported_) {
      reported_ = true;
      out_.tell(report_);
    }
  }
  [[nodiscard]] std::int64_t remaining() const {
    std::int64_t r = 0;
    for (int n : next_) r += per_target_ - n;
    return r;
  }

 private:
  std::vector<actor_ref<recorder>> targets_;
  int id_, per_target_, batch_;
  report_ref out_;
  producer_report report_;
  std::vector<int> next_;
  std::size_t cursor_ = 0;
  bool reported_ = false;
};

/// Blocks `r` (on a dedicated thread or a worker) inside its hold handler
/// and waits until it is there. The caller opens `release` later.
inline bool hold_actor(const actor_ref<recorder>& r, gate& entered) {
  r.tell(hold{});
  return entered.wait_for(long_wait);
}

/// A recorder in a system of its own (on its own thread unless `opts` says
/// otherwise) that `hold()` blocks inside a handler: what is sent to it
/// stays queued until `release` opens (at the latest when this goes). The
/// gates are declared before the system, so they outlive its join.
struct held_recorder {
  explicit held_recorder(system_config cfg = {.threads = 2}, spawn_options opts = {.dedicated_thread = true})
      : sys(std::move(cfg)), r(sys.spawn_with<recorder>(opts, &release, &entered)) {}
  /// Spawned as `sys.spawn` does: with the system's default mailbox, on the pool.
  struct system_defaults {};
  held_recorder(system_config cfg, system_defaults) : sys(std::move(cfg)), r(sys.spawn<recorder>(&release, &entered)) {}
  /// Blocks the recorder in its hold handler; false if it never got there.
  [[nodiscard]] bool hold() { return hold_actor(r, entered); }
  gate release, entered;
  actor_system sys;
  actor_ref<recorder> r;
  gate_opener opener{release};
};

/// True when each sender's sequence numbers are strictly increasing.
inline bool per_sender_increasing(const std::vector<seq_msg>& v, int senders) {
  std::vector<int> last(static_cast<std::size_t>(senders), -1);
  for (const auto& m : v) {
    if (m.sender < 0 || m.sender >= senders) return false;
    if (m.seq <= last[static_cast<std::size_t>(m.sender)]) return false;
    last[static_cast<std::size_t>(m.sender)] = m.seq;
  }
  return true;
}

/// Asks `r` for what it saw, retrying while a bounded mailbox refuses the
/// request (fail / drop_newest) until `timeout`.
inline std::vector<seq_msg> seen_by(const actor_ref<recorder>& r,
                                    std::chrono::steady_clock::duration timeout = long_wait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto res = r.ask(get_seen{}, long_wait).get();
    if (res.ok()) return std::move(res).value();
    if (res.error() != ask_error::mailbox_full || std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "ask(get_seen) failed: " << res.error().message() << " " << res.message();
      return {};
    }
    std::this_thread::yield();
  }
}


/// What most actor tests use: `using namespace troupe::test::prelude;`.
namespace prelude {
using namespace std::chrono_literals;
using troupe::actor;
using troupe::actor_ref;
using troupe::actor_system;
using troupe::ask_error;
using troupe::drop_reason;
using troupe::mailbox_options;
using troupe::overflow;
using troupe::result;
using troupe::send_result;
using troupe::spawn_options;
using troupe::system_config;
using troupe::test::gate;
using troupe::test::gate_opener;
using troupe::test::held_recorder;
using troupe::test::live_token;
using troupe::test::long_wait;
using troupe::test::recorder;
using troupe::test::seq_msg;
} // namespace prelude

} // namespace troupe::test
