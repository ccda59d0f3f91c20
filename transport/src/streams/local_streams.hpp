#pragma once
// Private to the transport: byte_streams on one host (Unix sockets, pipes).

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>
#include <memory>
#include <string>

#include "streams/byte_stream.hpp"

namespace troupe::transport {

std::unique_ptr<byte_stream> make_unix_stream(boost::asio::local::stream_protocol::socket sock, std::string what);
/// Adopts descriptors: one stream socket (read_fd == write_fd, e.g. a
/// socketpair end) or a pipe pair. The stream owns them from now on.
/// @throws std::invalid_argument when read_fd == write_fd is not a stream socket.
std::unique_ptr<byte_stream> make_fd_stream(boost::asio::io_context& io, int read_fd, int write_fd);

} // namespace troupe::transport
