#pragma once
// Private to the transport: the one door to a peer's connection.

#include <memory>

#include "troupe/transport/node.hpp"

namespace troupe::transport {

struct peer_access {
  [[nodiscard]] static peer make(std::shared_ptr<connection> c) noexcept { return peer(std::move(c)); }
  [[nodiscard]] static const std::shared_ptr<connection>& of(const peer& p) noexcept { return p.s_; }
};

} // namespace troupe::transport
