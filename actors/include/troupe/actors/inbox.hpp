#pragma once
/// @file A mailbox read by a thread outside the actor system (main(), a
/// test, a legacy thread): actors send to it like to any actor.
///
/// ```
/// troupe::inbox<reply> in(sys);
/// worker.tell(job{in.ref()});
/// std::optional<reply> r = in.receive(std::chrono::seconds(1));
/// ```
///
/// An inbox of several types receives a `std::variant` of them; with
/// `troupe::down` among them it can monitor actors, so `main` can wait for
/// an actor to stop without a helper actor:
///
/// ```
/// troupe::inbox<reply, troupe::down> in(sys);
/// in.monitor(worker);
/// auto m = in.receive(5s);  // std::optional<std::variant<reply, troupe::down>>
/// ```

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <variant>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/actor_system.hpp"
#include "troupe/actors/signals.hpp"

namespace troupe {

namespace detail {
template <class M>
struct inbox_handler {
  void on(M) {}
};

/// The pseudo-actor type behind an inbox handle: handles exactly Ms. Its
/// handlers never run; the inbox's owner takes the messages out, as they
/// were sent, so a message of another type (even one convertible to one of
/// them, such as an `int` to an inbox of `int64_t`) must not be sent: it
/// does not compile.
template <class... Ms>
struct inbox_actor : inbox_handler<Ms>... {
  static_assert(sizeof...(Ms) > 0, "troupe: an inbox receives at least one message type");
  using inbox_handler<Ms>::on...;
  template <class T>
    requires(!(std::is_same_v<std::remove_cvref_t<T>, Ms> || ...))
  void on(T&&) = delete;
};

/// Wakes the receiving thread when the inbox goes from empty to not empty.
struct inbox_executor final : executor {
  std::counting_semaphore<> ready{0};
  void notify() noexcept override { ready.release(); }
};

/// Cell of an inbox: never scheduled, never registered with the system.
template <class... Ms>
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
  const std::type_info& type() const noexcept override { return typeid(inbox_actor<Ms...>); }

 private:
  inbox_actor<Ms...> dummy_;
};
} // namespace detail

/// A typed mailbox for one non-actor thread. Neither copyable nor movable;
/// the thread that owns it is the only one that may call `receive`,
/// `monitor` and `demonitor`.
template <class... Ms>
class inbox {
  static constexpr bool takes_down = (std::is_same_v<Ms, down> || ...);

 public:
  using actor_type = detail::inbox_actor<Ms...>;
  /// What `receive` returns: the message, or a variant of the types.
  using value_type = std::conditional_t<sizeof...(Ms) == 1, std::tuple_element_t<0, std::tuple<Ms...>>, std::variant<Ms...>>;

  /// @throws std::invalid_argument for invalid options.
  explicit inbox(actor_system& sys, mailbox_options opts = mailbox_options::make_unbounded()) {
    cell_ = new detail::inbox_cell<Ms...>(&detail::system_access::core(sys), opts);
    ptr_ = detail::cell_ptr::adopt(cell_);
  }
  ~inbox() { cell_->external_close(); }
  inbox(const inbox&) = delete;
  inbox& operator=(const inbox&) = delete;

  /// Handle actors send to. @threadsafe
  [[nodiscard]] actor_ref<actor_type> ref() const noexcept { return actor_ref<actor_type>::from_cell(cell_); }

  /// Watches `target`: a `down` arrives here once when it stops for good
  /// (at once when it already has). Returns the id for `demonitor`.
  /// @throws std::invalid_argument for an empty handle. @note Only the owning thread.
  std::uint64_t monitor(const any_ref& target)
    requires takes_down
  {
    if (!target) throw std::invalid_argument("inbox::monitor: empty handle");
    return cell_->monitor(*target.cell(), &detail::down_ops<actor_type>::ops);
  }
  /// Cancels a monitor: its `down` is not received, even if on its way.
  void demonitor(std::uint64_t id)
    requires takes_down
  {
    cell_->demonitor(id);
  }

  /// Takes the next message, waiting up to `timeout`; nullopt on timeout.
  /// @throws std::invalid_argument for a negative timeout.
  /// @note Only the owning thread.
  template <class Rep, class Period>
  std::optional<value_type> receive(std::chrono::duration<Rep, Period> timeout) {
    const auto deadline = std::chrono::steady_clock::now() + detail::checked_timeout(timeout, "inbox::receive");
    for (;;) {
      if (detail::envelope* e = cell_->external_pop(down_ops())) {
        if (std::optional<value_type> v = take(e)) return v;
        continue;  // a down of a cancelled monitor
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
  static const detail::message_ops* down_ops() noexcept {
    if constexpr (takes_down) {
      return &detail::down_ops<actor_type>::ops;
    } else {
      return nullptr;
    }
  }
  /// The value in `e` (freed); nullopt for the down of a cancelled monitor.
  std::optional<value_type> take(detail::envelope* e) {
    if constexpr (takes_down) {
      if (e->ops == down_ops()) {
        std::unique_ptr<detail::message_envelope<down>> d(static_cast<detail::message_envelope<down>*>(e));
        if (!cell_->take_monitor(d->value.monitor)) return std::nullopt;
        return value_type(std::move(d->value));
      }
    }
    std::optional<value_type> out;
    // The ops pointer says which of the types this envelope holds.
    const bool known =
        ((e->ops == &detail::user_ops<actor_type, Ms>::ops ? (out.emplace(take_as<Ms>(e)), true) : false) || ...);
    if (!known) e->ops->destroy(e);  // not made by a send to this inbox: cannot happen, never leaks
    return out;
  }
  template <class M>
  static M take_as(detail::envelope* e) {
    std::unique_ptr<detail::message_envelope<M>> me(static_cast<detail::message_envelope<M>*>(e));
    return std::move(me->value);
  }

  detail::inbox_cell<Ms...>* cell_;
  detail::cell_ptr ptr_;  // owns cell_
};

} // namespace troupe
