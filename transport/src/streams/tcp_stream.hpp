#pragma once
// Private to the transport: byte_stream over a connected TCP socket.

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>
#include <memory>
#include <string>

#include "streams/byte_stream.hpp"

namespace troupe::transport {

/// Takes a connected socket; sets TCP_NODELAY (frames are batched already).
std::unique_ptr<byte_stream> make_tcp_stream(boost::asio::ip::tcp::socket sock);

/// The other end of a connected TCP socket, as a stream names it.
struct tcp_peer {
  std::string where;  ///< "address:port" for logs ("?" when unknown): byte_stream::describe
  std::string host;   ///< the IP address (empty when unknown): byte_stream::peer_host
};
/// Sets TCP_NODELAY on `sock` (streams batch their writes) and names its
/// other end. Every TCP stream, plain or TLS, starts here.
tcp_peer prepare_tcp(boost::asio::ip::tcp::socket& sock);

} // namespace troupe::transport
