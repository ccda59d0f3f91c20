#pragma once
/// @file Coroutine handlers: a handler returning `troupe::task<R>` may
/// `co_await` asks, and its `co_return` is the reply.
///
/// ```
/// struct front : troupe::actor<front> {
///   troupe::task<int> on(quote q) {                       // the message by value
///     troupe::result<int> price = co_await ask(prices_, q, 1s);  // timeout mandatory
///     if (!price) co_return -1;
///     co_return *price * 2;                               // the asker's reply
///   }
///   troupe::actor_ref<pricer> prices_;
/// };
/// ```
/// Two modes, named by the return type:
/// - `task<R>` is reentrant: while it waits, the actor handles its other
///   messages (as with a continuation), so its state may change across a
///   `co_await`.
/// - `exclusive_task<R>` is not: while it waits, the actor handles only the
///   reply and system messages (stop, monitors); other messages wait in
///   the mailbox. Two actors that ask each other from exclusive handlers
///   wait for each other until the asks time out.
///
/// A handler coroutine always resumes on its actor, in one of its turns,
/// never on a timer or I/O thread. When the actor stops while one waits,
/// its frame is destroyed (its locals' destructors run) and its asker gets
/// `ask_error::actor_stopped`. An exception escaping it fails the actor as
/// a handler's would. Frames come from the runtime's pool.
///
/// What to avoid (each is a dangling reference once the handler waits):
/// a handler taking its message by reference (refused at compile time: take
/// it by value); a lambda coroutine capturing state (`[&]() -> task<> {...}`:
/// the captures live in the lambda object, not in the frame); and, on g++
/// 12, a temporary lambda in the same full expression as a `co_await`
/// (`co_await ask(to, make([&]{...}()), 1s)`): name the value first. The
/// tests build these patterns with g++ and clang.
/// `stash()` is not for coroutine handlers.

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/detail/cell_extras.hpp"
#include "troupe/actors/envelope.hpp"
#include "troupe/mailbox/block_pool.hpp"

namespace troupe {

/// Whether an actor handles other messages while a coroutine handler waits.
enum class reentrancy : unsigned char {
  reentrant,  ///< yes (`task`)
  exclusive,  ///< no: only replies and system messages (`exclusive_task`)
};

template <class T = void, reentrancy Mode = reentrancy::reentrant>
class task;

/// A coroutine handler during whose waits the actor handles nothing else.
template <class T = void>
using exclusive_task = task<T, reentrancy::exclusive>;

namespace detail {

/// The runtime's part of every task frame.
struct task_promise_base {
  static void* operator new(std::size_t n) { return pool::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { pool::deallocate(p, n); }

  task_promise_base() noexcept = default;
  task_promise_base(const task_promise_base&) = delete;
  task_promise_base& operator=(const task_promise_base&) = delete;
  ~task_promise_base() {
    if (reply != nullptr) {
      reply->fail(ask_error::actor_stopped, "the handler ended without a reply");
      delete reply;
    }
  }

  std::suspend_always initial_suspend() const noexcept { return {}; }
  /// A nested task keeps what escaped it for its awaiter; the handler's own
  /// frame fails its ask (after the actor's `down`s) and rethrows, failing
  /// the actor.
  void unhandled_exception();

  [[nodiscard]] bool is_root() const noexcept { return root == this; }

  actor_cell* cell = nullptr;            ///< the actor it runs on
  task_promise_base* root = nullptr;     ///< the handler's frame (itself for the handler)
  std::coroutine_handle<> continuation;  ///< nested: the task awaiting it
  std::exception_ptr error;              ///< nested: what escaped it
  // The handler's frame only:
  reply_slot_base* reply = nullptr;  ///< the asker's reply (nullptr for a tell)
  std::coroutine_handle<> self;
  task_promise_base* prev = nullptr;  ///< the actor's list of waiting handlers
  task_promise_base* next = nullptr;
  bool exclusive = false;
};

/// Starts `h` (promise `p`) as the handler of a message whose ask is
/// `reply`, on `self`: registers it and runs it to its first wait.
/// What it throws before then propagates (the actor fails).
void start_task(actor_cell& self, task_promise_base& p, std::coroutine_handle<> h, reply_slot_base* reply,
                bool exclusive);
/// The handler's frame `p` finished: unregisters and destroys it.
void finish_task(task_promise_base& p) noexcept;
/// `self` stops: destroys its waiting handlers' frames; their asks fail
/// (after the `down`s) with actor_stopped.
void destroy_tasks(actor_cell& self) noexcept;

struct final_awaiter {
  [[nodiscard]] bool await_ready() const noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
    task_promise_base& p = h.promise();
    if (p.is_root()) {
      finish_task(p);  // destroys the frame: nothing of it is touched after
      return std::noop_coroutine();
    }
    return p.continuation;  // a nested task: its awaiter goes on
  }
  void await_resume() const noexcept {}
};

template <class T>
struct task_promise : task_promise_base {
  void return_value(T v) {
    if (!is_root()) {
      value.emplace(std::move(v));
    } else if (reply != nullptr) {
      auto* s = static_cast<reply_slot<T>*>(std::exchange(reply, nullptr));
      s->deliver(std::move(v));
      delete s;
    }
  }
  std::optional<T> value;  ///< nested: the result for the awaiter
};

template <>
struct task_promise<void> : task_promise_base {
  void return_void() const noexcept {}
};

template <class T>
struct is_task : std::false_type {};
template <class T, reentrancy M>
struct is_task<task<T, M>> : std::true_type {};

} // namespace detail

/// What a coroutine handler returns: `co_return` gives the reply (R), and
/// another task can be awaited inside it (`T v = co_await helper();`,
/// running as part of the handler, on the same actor). Move-only; a task
/// that is neither returned from a handler nor awaited is destroyed unrun.
template <class T, reentrancy Mode>
class [[nodiscard]] task {
 public:
  struct promise_type : detail::task_promise<T> {
    task get_return_object() noexcept { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
    [[nodiscard]] detail::final_awaiter final_suspend() const noexcept { return {}; }
  };

  task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  task& operator=(task&& o) = delete;
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (h_) h_.destroy();
  }

  /// Awaited inside another task: runs now, as part of it.
  struct awaiter {
    std::coroutine_handle<promise_type> child;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
      static_assert(std::is_base_of_v<detail::task_promise_base, P>,
                    "troupe: a troupe::task is awaited only inside another troupe::task");
      detail::task_promise_base& pp = parent.promise();
      promise_type& cp = child.promise();
      cp.cell = pp.cell;
      cp.root = pp.root;
      cp.continuation = parent;
      return child;
    }
    T await_resume() {
      promise_type& cp = child.promise();
      if (cp.error) std::rethrow_exception(cp.error);
      if constexpr (!std::is_void_v<T>) return std::move(*cp.value);
    }
  };
  awaiter operator co_await() && noexcept { return awaiter{h_}; }

  /// For the runtime: runs this task as the handler of a message whose
  /// ask is `reply` (taken; nullptr for a tell).
  void start(detail::actor_cell& self, detail::reply_slot_base* reply) && {
    auto h = std::exchange(h_, {});
    detail::start_task(self, h.promise(), h, reply, Mode == reentrancy::exclusive);
  }

 private:
  explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

} // namespace troupe
