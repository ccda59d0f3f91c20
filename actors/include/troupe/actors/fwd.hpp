#pragma once
/// @file Forward declarations for the actors component.

namespace troupe {
class actor_system;
struct system_config;
struct spawn_options;
template <class Derived>
class actor;
template <class A>
class actor_ref;
template <class R>
class ask_future;
template <class T>
class result;
template <class M>
class inbox;
enum class send_result : unsigned char;
enum class ask_error : unsigned char;
enum class exit_reason : unsigned char;
enum class drop_reason : unsigned char;
namespace detail {
class actor_cell;
class system_core;
struct envelope;
} // namespace detail
} // namespace troupe
