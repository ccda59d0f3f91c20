#pragma once
/// @file A mailbox read by a thread outside the actor system (main(), a
/// test, a legacy thread): actors send to it like to any actor.
///
/// ```
/// troupe::inbox<reply> in(sys);
/// worker.tell(job{in.ref()});
/// std::optional<reply> r = in.receive(std::chrono::seconds(1));
/// ```

#include <chrono>
#include <cstdint>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/actor_system.hpp"

namespace troupe {

namespace detail {
/// The pseudo-actor type behind an inbox handle: handles exactly M. Its
/// handler never runs; the inbox's owner takes the messages out, as M, so
/// a message of another type (even one convertible to M, such as an `int`
/// to an inbox of `int64_t`) must not be sent: it does not compile.
template <class M>
struct inbox_actor {
  void on(M) {}
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, M>)
  void on(T&&) = delete;
};

/// Wakes the receiving thread when the inbox goes from empty to not empty.
struct inbox_executor final : executor {
  std::counting_semaphore<> ready{0};
  void notify() noexcept override { ready.release(); }
};

/// Cell of an inbox: never scheduled, never registered with the system.
template <class M>
class inbox_cell final : public actor_cell {
 public:
  inbox_cell(system_core* sys, const mailbox_options& opts) : actor_cell(sys, opts) {
    instance_ = &dummy_;
    instance_alive_ = true;
    set_executor(&exec);
  }
  /// Lives as long as the cell, so a late sender can still ring it.
  inbox_executor exec;

 protected:
  void destroy_instance() noexcept override {}
  const std::type_info& type() const noexcept override { return typeid(inbox_actor<M>); }

 private:
  inbox_actor<M> dummy_;
};
} // namespace detail

/// A typed mailbox for one non-actor thread. Neither copyable nor movable;
/// the thread that owns it is the only one that may call `receive`.
template <class M>
class inbox {
 public:
  using actor_type = detail::inbox_actor<M>;

  /// @throws std::invalid_argument for invalid options.
  explicit inbox(actor_system& sys, mailbox_options opts = mailbox_options::make_unbounded()) {
    cell_ = new detail::inbox_cell<M>(&detail::system_access::core(sys), opts);
    ptr_ = detail::cell_ptr::adopt(cell_);
  }
  ~inbox() {
    cell_->external_close();
  }
  inbox(const inbox&) = delete;
  inbox& operator=(const inbox&) = delete;

  /// Handle actors send to. @threadsafe
  [[nodiscard]] actor_ref<actor_type> ref() const noexcept { return actor_ref<actor_type>::from_cell(cell_); }

  /// Takes the next message, waiting up to `timeout`; nullopt on timeout.
  /// @throws std::invalid_argument for a negative timeout.
  /// @note Only the owning thread.
  template <class Rep, class Period>
  std::optional<M> receive(std::chrono::duration<Rep, Period> timeout) {
    const auto deadline = std::chrono::steady_clock::now() + detail::checked_timeout(timeout, "inbox::receive");
    for (;;) {
      if (detail::envelope* e = cell_->external_pop()) {
        auto* me = static_cast<detail::message_envelope<M>*>(e);
        std::optional<M> v(std::move(me->value));
        delete me;
        return v;
      }
      if (cell_->box().busy()) {  // not depth(): a system message in flight must not hide a user one
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::yield();  // a sender is between its two steps
        continue;
      }
      if (!cell_->exec.ready.try_acquire_until(deadline)) return std::nullopt;
    }
  }

 private:
  detail::inbox_cell<M>* cell_;
  detail::cell_ptr ptr_;  // owns cell_
};

} // namespace troupe
