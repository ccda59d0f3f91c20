#pragma once
/// @file The compile-time "sendable" check: a message must own its data.
///
/// Refused: raw pointers, references (std::reference_wrapper, tuples of
/// references), non-owning views (std::string_view, std::span), and
/// std::shared_ptr / std::weak_ptr to mutable data. `std::shared_ptr<const T>`
/// is the sanctioned way to share read-only data between actors (like Rust's
/// `Arc<T>`). Standard containers are checked element by element. A class
/// type is taken at its word; specialise `troupe::is_sendable<T>` to refuse
/// (or vouch for) a type of your own.

#include <array>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace troupe {

/// True when a value of type T may travel between actors. Specialisable.
template <class T>
struct is_sendable
    : std::bool_constant<std::is_object_v<T> && !std::is_pointer_v<T> && !std::is_member_pointer_v<T> &&
                         !std::is_array_v<T> && std::is_move_constructible_v<T> && std::is_destructible_v<T>> {};

template <class T>
inline constexpr bool is_sendable_v = is_sendable<std::remove_cv_t<T>>::value;

// Non-owning or shared-mutable standard types.
template <class T>
struct is_sendable<std::reference_wrapper<T>> : std::false_type {};
template <class C, class Tr>
struct is_sendable<std::basic_string_view<C, Tr>> : std::false_type {};
template <class T, std::size_t N>
struct is_sendable<std::span<T, N>> : std::false_type {};
template <class T>
struct is_sendable<std::shared_ptr<T>> : std::bool_constant<std::is_const_v<T>> {};
template <class T>
struct is_sendable<std::weak_ptr<T>> : std::bool_constant<std::is_const_v<T>> {};

// Owning wrappers and containers: sendable when their elements are.
template <class T, class D>
struct is_sendable<std::unique_ptr<T, D>> : std::bool_constant<is_sendable_v<std::remove_extent_t<T>> || std::is_arithmetic_v<std::remove_extent_t<T>>> {};
template <class T>
struct is_sendable<std::optional<T>> : std::bool_constant<is_sendable_v<T>> {};
template <class T, class A>
struct is_sendable<std::vector<T, A>> : std::bool_constant<is_sendable_v<T>> {};
template <class T, class A>
struct is_sendable<std::deque<T, A>> : std::bool_constant<is_sendable_v<T>> {};
template <class T, class A>
struct is_sendable<std::list<T, A>> : std::bool_constant<is_sendable_v<T>> {};
template <class T, std::size_t N>
struct is_sendable<std::array<T, N>> : std::bool_constant<is_sendable_v<T>> {};
template <class K, class V, class C, class A>
struct is_sendable<std::map<K, V, C, A>> : std::bool_constant<is_sendable_v<K> && is_sendable_v<V>> {};
template <class K, class V, class H, class E, class A>
struct is_sendable<std::unordered_map<K, V, H, E, A>> : std::bool_constant<is_sendable_v<K> && is_sendable_v<V>> {};
template <class K, class C, class A>
struct is_sendable<std::set<K, C, A>> : std::bool_constant<is_sendable_v<K>> {};
template <class K, class H, class E, class A>
struct is_sendable<std::unordered_set<K, H, E, A>> : std::bool_constant<is_sendable_v<K>> {};
template <class A, class B>
struct is_sendable<std::pair<A, B>> : std::bool_constant<is_sendable_v<A> && is_sendable_v<B> && !std::is_reference_v<A> && !std::is_reference_v<B>> {};
template <class... Ts>
struct is_sendable<std::tuple<Ts...>> : std::bool_constant<((is_sendable_v<Ts> && !std::is_reference_v<Ts>) && ...)> {};
template <class... Ts>
struct is_sendable<std::variant<Ts...>> : std::bool_constant<(is_sendable_v<Ts> && ...)> {};

/// A message type: a value that owns its data.
template <class T>
concept sendable = is_sendable_v<T>;

namespace detail {
template <class T>
struct is_shared_mutable : std::false_type {};
template <class T>
struct is_shared_mutable<std::shared_ptr<T>> : std::bool_constant<!std::is_const_v<T>> {};
template <class T>
struct is_shared_mutable<std::weak_ptr<T>> : std::bool_constant<!std::is_const_v<T>> {};

/// Fires the static_assert that best tells the user what to write instead.
template <class M>
constexpr void check_sendable() {
  using T = std::remove_cv_t<M>;
  static_assert(!std::is_pointer_v<T>,
                "troupe: a message must own its data, and a raw pointer does not. Send the value itself, "
                "a std::unique_ptr<T> (ownership moves), or a std::shared_ptr<const T> to share read-only data.");
  static_assert(!is_shared_mutable<T>::value,
                "troupe: std::shared_ptr<T> to mutable data would let two actors touch the same state. "
                "Send std::shared_ptr<const T> (read-only, like Rust's Arc<T>) or move the value in.");
  static_assert(std::is_pointer_v<T> || is_shared_mutable<T>::value || is_sendable_v<T>,
                "troupe: this message type is not sendable: it holds a reference, a non-owning view "
                "(string_view, span), a raw pointer or mutable shared data. Send owning values instead "
                "(std::string, std::vector, std::unique_ptr, std::shared_ptr<const T>).");
}
} // namespace detail

} // namespace troupe
