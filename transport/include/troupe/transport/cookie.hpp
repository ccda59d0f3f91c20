#pragma once
/// @file The shared secret nodes prove they hold (never sent on the wire).

#include <string>

namespace troupe::transport {

/// `$HOME/.troupe/cookie` (or `./.troupe/cookie` without HOME).
[[nodiscard]] std::string default_cookie_path();

/// The cookie: the environment variable TROUPE_COOKIE when set, else the
/// contents of `path` (default_cookie_path() when empty). A missing file is
/// created, with its directory, mode 0600 and 32 random bytes (hex).
/// @throws std::runtime_error naming the file and the problem: readable by
/// group or others, unreadable, empty, or TROUPE_COOKIE set but empty.
[[nodiscard]] std::string load_cookie(const std::string& path = {});

} // namespace troupe::transport
