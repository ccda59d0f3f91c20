#pragma once
// Private to the transport: byte_stream over a connected TCP socket.

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>
#include <memory>

#include "streams/byte_stream.hpp"

namespace troupe::transport {

/// Takes a connected socket; sets TCP_NODELAY (frames are batched already).
std::unique_ptr<byte_stream> make_tcp_stream(boost::asio::ip::tcp::socket sock);

} // namespace troupe::transport
