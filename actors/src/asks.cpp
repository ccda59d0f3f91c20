// The asks an actor makes: registered by request id, completed by their
// reply (a system message), expired by one timer per actor armed for the
// earliest deadline. An ask answered before its deadline costs no timer of
// its own: the timer fires once per earliest deadline, finds what expired,
// and re-arms for the next.
#include <vector>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe::detail {

namespace {

struct ask_deadline {};

void invoke_deadline(actor_cell& self, envelope* e) {
  delete static_cast<message_envelope<ask_deadline>*>(e);
  self.expire_asks();
}
constexpr message_ops deadline_ops{&invoke_deadline, &destroy_envelope<ask_deadline>, &typeid(ask_deadline), nullptr};

/// Arms the actor's ask timer for `at` (earlier than the armed one).
void arm(actor_cell& self, cell_extras& x, std::chrono::steady_clock::time_point at) {
  x.ask_timer.cancel();
  x.ask_timer_at = at;
  x.ask_timer = self.system().timers().schedule_at(at, [me = cell_ptr(&self)] {
    never_block_scope nb;
    me->enqueue_system(new message_envelope<ask_deadline>(&deadline_ops));
  });
}

} // namespace

namespace {
/// Runs a continuation under the trace its ask was made in.
struct continuation_trace {
  explicit continuation_trace(const pending_ask_base& p) noexcept
      : prev(p.trace ? std::exchange(tls_trace, &*p.trace) : tls_trace) {}
  ~continuation_trace() { tls_trace = prev; }
  const trace_context* prev;
};
} // namespace

std::uint64_t actor_cell::add_ask(std::unique_ptr<pending_ask_base> p) {
  if (tls_trace != nullptr) [[unlikely]] p->trace = *tls_trace;
  cell_extras& x = extras();
  const auto deadline = p->deadline;
  const std::uint64_t id = x.next_request++;
  x.asks.emplace(id, std::move(p));
  if (deadline < x.ask_timer_at) {
    try {
      arm(*this, x, deadline);
    } catch (...) {
      x.asks.erase(id);
      throw;
    }
  }
  return id;
}

void actor_cell::expire_asks() {
  cell_extras* x = extras_if_any();
  if (x == nullptr) return;
  x->ask_timer_at = std::chrono::steady_clock::time_point::max();
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<pending_ask_base>> due;
  auto next = std::chrono::steady_clock::time_point::max();
  try {
    for (auto it = x->asks.begin(); it != x->asks.end();) {
      if (it->second->deadline <= now) {
        due.push_back(std::move(it->second));
        it = x->asks.erase(it);
      } else {
        next = std::min(next, it->second->deadline);
        ++it;
      }
    }
    if (next != std::chrono::steady_clock::time_point::max()) arm(*this, *x, next);
  } catch (...) {
    // No memory for the list or the timer: what is due now expires below,
    // the rest at the next deadline message (one is posted again at once).
    try {
      arm(*this, *x, now);
    } catch (...) {
      sys_->log_failure(*this, "no memory to arm the ask timer: asks may wait past their timeout");
    }
  }
  // Each continuation may ask again (and so re-arm): the table is not
  // walked while they run.
  for (auto& p : due) {
    if (stop_requested_) break;  // a continuation stopped the actor: the rest go with it
    const continuation_trace in_trace(*p);
    p->expire();                  // what it throws fails the actor, as a handler's would
  }
}

void complete_ask(actor_cell& self, std::uint64_t id, void* r) {
  std::unique_ptr<pending_ask_base> p;
  if (cell_extras* x = self.extras_if_any()) {
    if (auto it = x->asks.find(id); it != x->asks.end()) {
      p = std::move(it->second);
      x->asks.erase(it);
    }
  }
  if (!p) {
    self.system().count_drop(drop_reason::late_reply, typeid(void));  // it timed out
    return;
  }
  const continuation_trace in_trace(*p);
  p->complete(r);
}

} // namespace troupe::detail
