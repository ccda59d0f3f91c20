#pragma once
/// @file How an actor's ask is sent, and `co_await ask(...)` (task.hpp).

#include <chrono>
#include <coroutine>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/task.hpp"

namespace troupe::detail {

/// Who an actor can ask for a D, and the reply R: an `actor_ref<B>` whose
/// B handles D, or a `ref<...>` that lists D with its reply as `R(D)`.
template <class H, class D>
struct ask_target {
  static constexpr bool accepts = false;
  using reply = void;
};
template <class B, class D>
struct lazy_reply {
  using type = reply_t<B, D>;
};
template <class B, class D>
struct ask_target<actor_ref<B>, D> {
  static constexpr bool accepts = handles<B, D>;
  using reply = typename std::conditional_t<handles<B, D>, lazy_reply<B, D>, std::type_identity<void>>::type;
  static const message_ops* ops(const actor_ref<B>&) noexcept { return &user_ops<B, D>::ops; }
};

/// Sends `msg` from actor `self` to cell `to` (null for an empty handle)
/// through `ops` as an ask whose reply (or, after `timeout`, its expiry)
/// completes `pending`. Nothing is registered or sent when this throws.
/// @note Only from `self`'s turn.
template <class R, class D, class Msg>
void send_ask(actor_cell& self, actor_cell* to, const message_ops* ops, std::unique_ptr<pending_ask_base> pending,
              std::chrono::steady_clock::duration timeout, Msg&& msg) {
  pending->deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_ptr<message_envelope<D>> e(new message_envelope<D>(ops, std::forward<Msg>(msg)));
  auto slot = std::make_unique<actor_reply_slot<R>>(cell_ptr(&self), 0);
  slot->request = self.add_ask(std::move(pending));
  e->reply = slot.release();
  if (to != nullptr) {
    to->enqueue(e.release());
  } else {
    discard(e.release(), ask_error::actor_stopped, "ask on an empty handle");
  }
}

/// `co_await ask(to, msg, timeout)` in a coroutine handler: sends when
/// awaited, resumes the handler on its actor with the `result<R>`.
template <class R, class D>
class [[nodiscard]] ask_awaiter {
 public:
  ask_awaiter(actor_cell& self, actor_cell* to, const message_ops* ops, D msg, std::chrono::steady_clock::duration timeout)
      : self_(self), to_(to), ops_(ops), msg_(std::move(msg)), timeout_(timeout) {}
  ask_awaiter(ask_awaiter&&) = default;

  [[nodiscard]] bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    static_assert(std::is_base_of_v<task_promise_base, P>,
                  "troupe: co_await ask(...) works in a handler returning troupe::task<R> (or exclusive_task<R>)");
    task_promise_base& root = *h.promise().root;
    auto pending = std::make_unique<resume_on_reply>(this, h, root.exclusive ? &self_.extras() : nullptr);
    send_ask<R, D>(self_, to_.get(), ops_, std::move(pending), timeout_, std::move(msg_));
    if (root.exclusive) ++self_.extras().exclusive_waits;
  }
  result<R> await_resume() { return std::move(*value_); }

 private:
  struct resume_on_reply final : pending_ask_base {
    resume_on_reply(ask_awaiter* a, std::coroutine_handle<> h, cell_extras* exclusive) noexcept
        : awaiter(a), handle(h), exclusive_of(exclusive) {}
    void complete(void* r) override {
      awaiter->value_.emplace(std::move(*static_cast<result<R>*>(r)));
      resume();
    }
    void expire() override {
      awaiter->value_.emplace(failure{ask_error::timeout, "no reply within the timeout"});
      resume();
    }
    void resume() {
      if (exclusive_of != nullptr) --exclusive_of->exclusive_waits;
      handle.resume();
    }
    ask_awaiter* awaiter;
    std::coroutine_handle<> handle;
    cell_extras* exclusive_of;
  };

  actor_cell& self_;
  cell_ptr to_;
  const message_ops* ops_;
  D msg_;
  std::chrono::steady_clock::duration timeout_;
  std::optional<result<R>> value_;
};

} // namespace troupe::detail
