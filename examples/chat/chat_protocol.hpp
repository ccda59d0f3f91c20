#pragma once
// What the chat server and its clients share: the messages (chat.proto)
// and the client's member actor, which the server reaches by node and id.

#include <troupe/troupe.hpp>

#include "chat.pb.h"

namespace chat {

using lines_ref = troupe::actor_ref<troupe::inbox<Line>::actor_type>;

/// Lives in a client; receives the lines of the rooms it joined and hands
/// them to the client's main thread.
struct member : troupe::actor<member> {
  using remote_interface = troupe::accepts<Line>;
  explicit member(lines_ref out) : out_(std::move(out)) {}
  void on(Line l) { out_.tell(std::move(l)); }
  lines_ref out_;
};

/// The server's lobby as clients see it: the handlers it has, without the
/// server's code (lookup checks that the published lobby accepts them).
struct lobby_api : troupe::interface {
  using remote_interface = troupe::accepts<Join, Say, Leave>;
  Joined on(Join);
  void on(Say);
  void on(Leave);
};

} // namespace chat
