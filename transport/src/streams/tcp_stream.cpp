#include "streams/tcp_stream.hpp"

#include "streams/socket_stream.hpp"

namespace troupe::transport {

namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string peer_of(const tcp::socket& sock) {
  boost::system::error_code ec;
  const auto ep = sock.remote_endpoint(ec);
  return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
}
} // namespace

std::unique_ptr<byte_stream> make_tcp_stream(tcp::socket sock) {
  boost::system::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);  // frames are batched already
  std::string peer = peer_of(sock);
  return std::make_unique<socket_stream<tcp::socket>>(std::move(sock), std::move(peer));
}

} // namespace troupe::transport
