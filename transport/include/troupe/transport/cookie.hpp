#pragma once
/// @file The shared secret nodes prove they hold (never sent on the wire).

#include <cstddef>
#include <string>

namespace troupe::transport {

/// `$HOME/.troupe/cookie` (or `./.troupe/cookie` without HOME).
[[nodiscard]] std::string default_cookie_path();

/// The shortest cookie accepted, from any source: a shorter secret can be
/// found offline from one captured handshake.
inline constexpr std::size_t min_cookie_bytes = 16;

/// Why `cookie` (from `source`) is too weak to use, or empty when it is not.
[[nodiscard]] std::string weak_cookie(const std::string& cookie, const std::string& source);

/// The cookie: the environment variable TROUPE_COOKIE when set, else the
/// contents of `path` (default_cookie_path() when empty). A missing file is
/// created, with its directory, mode 0600 and 32 random bytes (hex).
/// @throws std::runtime_error naming the file and the problem: shorter
/// than min_cookie_bytes (the message says how to make a good one), a
/// symbolic link, not owned by this user, readable by group or others (or
/// in a directory that is a link, someone else's or writable by others),
/// unreadable, or TROUPE_COOKIE set but too short.
[[nodiscard]] std::string load_cookie(const std::string& path = {});

} // namespace troupe::transport
