#pragma once
/// @file For components built on a node (the cluster): the node's I/O
/// context. Its one thread runs the node's sockets, so what runs there must
/// be short and never block (no blocking connect, lookup or ask, no file
/// I/O): a stalled handler stalls every link of the node. Application code
/// has no use for it.

#include <boost/asio/io_context.hpp>

#include "troupe/transport/node.hpp"

namespace troupe {

/// The node's I/O context; valid while the node lives, and run until the
/// node stops (work posted after that is dropped with the context).
[[nodiscard]] boost::asio::io_context& io_context_of(node& n) noexcept;

} // namespace troupe
