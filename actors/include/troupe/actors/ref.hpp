#pragma once
/// @file A handle typed by what it accepts, not by the actor class behind it.
///
/// ```
/// // Anything that handles `token` and answers `where` with a `std::string`:
/// using next_hop = troupe::ref<token, std::string(where)>;
/// next_hop n = sys.spawn<ring_link>(...);   // or the ring's master, or an inbox
/// n.tell(token{1});
/// ```
///
/// Each element is a message type `M` (tell only) or a signature `R(M)`
/// (tell, and ask with reply `R`). An `actor_ref<A>` converts to `ref<...>`
/// when A handles every `M` (with exactly the reply `R` where one is
/// given), checked at compile time; so does an inbox's `ref()`, and a
/// `ref` listing more (a superset of the same elements). A local send
/// costs what `actor_ref::tell` costs: the handler is found when the handle
/// is made, not per message. A `ref` is a value (one reference count and
/// one pointer per element) to share between threads and send in local
/// messages; to send a handle to another node, send the `actor_ref`.

#include <chrono>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/any_ref.hpp"
#include "troupe/actors/detail/ask_awaiter.hpp"

namespace troupe {

template <class... Es>
class ref;

namespace detail {
/// The message and reply of one element of a `ref<...>`.
template <class E>
struct accepted {
  using message = E;
  using reply = void;
};
template <class R, class M>
struct accepted<R(M)> {
  using message = M;
  using reply = R;
};

/// How one message type reaches the actor behind a ref: made once per
/// (actor type, message type).
template <class M>
struct accept_entry {
  const message_ops* ops;                                ///< a local send's, and every ask's
  send_result (*remote_tell)(actor_cell* c, M&& msg);  ///< a tell to another node's actor
};
template <class A, class M>
send_result remote_tell_thunk(actor_cell* c, M&& msg) {
  return tell_remote<A, M>(c, std::move(msg));
}
template <class A, class M>
inline constexpr accept_entry<M> entry_for{&user_ops<A, M>::ops, &remote_tell_thunk<A, M>};

/// The entry of an empty ref: never used to send (there is no cell), only
/// to free an ask's envelope and fail its reply.
template <class M>
void never_invoked(actor_cell&, envelope* e) {
  destroy_envelope<M>(e);
}
template <class M>
send_result never_sent(actor_cell*, M&&) {
  return send_result::dead;
}
template <class M>
inline constexpr message_ops unbound_ops{&never_invoked<M>, &destroy_envelope<M>, &typeid(M)};
template <class M>
inline constexpr accept_entry<M> unbound_entry{&unbound_ops<M>, &never_sent<M>};

/// True when actor type A accepts element E (and replies as it says).
template <class A, class E>
consteval bool accepts_element() {
  using M = typename accepted<E>::message;
  if constexpr (!handles<A, M>) {
    return false;
  } else if constexpr (std::is_void_v<typename accepted<E>::reply>) {
    return true;
  } else {
    return std::is_same_v<reply_t<A, M>, typename accepted<E>::reply>;
  }
}

/// Index of the element of Es whose message is M; sizeof...(Es) when none.
template <class M, class... Es>
consteval std::size_t element_of() {
  constexpr bool hits[] = {std::is_same_v<typename accepted<Es>::message, M>...};
  for (std::size_t i = 0; i < sizeof...(Es); ++i) {
    if (hits[i]) return i;
  }
  return sizeof...(Es);
}

/// True when no message type is listed twice (as `M` and `R(M)`, say).
template <class... Es>
consteval bool distinct_messages() {
  std::size_t i = 0;
  return ((element_of<typename accepted<Es>::message, Es...>() == i++) && ...);
}

template <class E, class... Fs>
inline constexpr bool listed_in = (std::is_same_v<E, Fs> || ...);
} // namespace detail

template <class... Es>
class ref : public detail::handle_base {
  static_assert(sizeof...(Es) > 0, "troupe: a ref accepts at least one message type");
  static_assert(detail::distinct_messages<Es...>(), "troupe: a ref lists each message type once");
  template <class M>
  static constexpr std::size_t index = detail::element_of<M, Es...>();
  template <class M>
  using element = std::tuple_element_t<index<M>, std::tuple<Es...>>;

 public:
  ref() noexcept = default;

  /// The handle of an actor of type A that accepts every element.
  template <class A>
    requires(detail::accepts_element<A, Es>() && ...)
  ref(const actor_ref<A>& r) noexcept  // NOLINT(google-explicit-constructor)
      : handle_base(r.cell()), table_{&detail::entry_for<A, typename detail::accepted<Es>::message>...} {}
  /// Any other actor: does not compile, and says why.
  template <class A>
    requires(!(detail::accepts_element<A, Es>() && ...))
  ref(const actor_ref<A>&) noexcept {  // NOLINT(google-explicit-constructor)
    static_assert((detail::accepts_element<A, Es>() && ...),
                  "troupe: this actor does not accept every message the ref lists: a handler `on(M)` for each "
                  "`M`, and for each `R(M)` one that replies exactly R");
  }

  /// Narrows a ref that accepts at least these elements.
  template <class... Fs>
    requires(detail::listed_in<Es, Fs...> && ...)
  ref(const ref<Fs...>& r) noexcept  // NOLINT(google-explicit-constructor)
      : handle_base(r.cell()), table_{r.template entry<typename detail::accepted<Es>::message>()...} {}

  /// Sends `msg` (fire and forget); as `actor_ref::tell`. @threadsafe
  template <class M>
  send_result tell(M&& msg) const {
    using D = std::remove_cvref_t<M>;
    detail::check_sendable<D>();
    static_assert(index<D> < sizeof...(Es), "troupe: this ref does not list the message type");
    if constexpr (index<D> < sizeof...(Es)) {
      if (!cell_) return send_result::dead;
      const detail::accept_entry<D>* e = std::get<index<D>>(table_);
      if (cell_->encodes_on_send()) [[unlikely]] return e->remote_tell(cell_.get(), D(std::forward<M>(msg)));
      return cell_->enqueue(new detail::message_envelope<D>(e->ops, std::forward<M>(msg)));
    } else {
      return send_result::dead;
    }
  }

  /// Asks from a thread outside the system; as `actor_ref::ask`. The
  /// element must be a signature `R(M)`. @threadsafe
  template <class M, class Rep, class Period>
  auto ask(M&& msg, std::chrono::duration<Rep, Period> timeout) const {
    using D = std::remove_cvref_t<M>;
    detail::check_sendable<D>();
    static_assert(index<D> < sizeof...(Es), "troupe: this ref does not list the message type");
    using R = typename detail::accepted<element<D>>::reply;
    static_assert(!std::is_void_v<R>, "troupe: to ask, the ref must list the message with its reply, as `R(M)`");
    return detail::ask_from_outside<R, D>(cell_.get(), std::get<index<D>>(table_)->ops, std::forward<M>(msg),
                                          detail::checked_timeout(timeout, "ask"));
  }

  /// The same actor, with its type forgotten (for monitor, link, compare).
  operator any_ref() const noexcept { return any_ref::from_cell(cell_.get()); }  // NOLINT(google-explicit-constructor)

  friend bool operator==(const ref& a, const ref& b) noexcept { return a.cell_ == b.cell_; }

  /// For the runtime: how message M reaches this actor.
  template <class M>
  [[nodiscard]] const detail::accept_entry<M>* entry() const noexcept {
    return std::get<index<M>>(table_);
  }

 private:
  std::tuple<const detail::accept_entry<typename detail::accepted<Es>::message>*...> table_{
      &detail::unbound_entry<typename detail::accepted<Es>::message>...};
};

namespace detail {
template <class... Es, class D>
  requires(element_of<D, Es...>() < sizeof...(Es))
struct ask_target<ref<Es...>, D> {
  static constexpr bool accepts = true;
  using reply = typename accepted<std::tuple_element_t<element_of<D, Es...>(), std::tuple<Es...>>>::reply;
  static const message_ops* ops(const ref<Es...>& to) noexcept { return to.template entry<D>()->ops; }
};
} // namespace detail

} // namespace troupe
