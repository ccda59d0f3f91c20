#include "streams/tcp_stream.hpp"

#include "streams/socket_stream.hpp"

namespace troupe::transport {

namespace {
using tcp = boost::asio::ip::tcp;
} // namespace

std::unique_ptr<byte_stream> make_tcp_stream(tcp::socket sock) {
  boost::system::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);  // frames are batched already
  const auto ep = sock.remote_endpoint(ec);
  std::string host = ec ? std::string() : ep.address().to_string();
  std::string peer = ec ? std::string("?") : host + ":" + std::to_string(ep.port());
  return std::make_unique<socket_stream<tcp::socket>>(std::move(sock), std::move(peer), std::move(host));
}

} // namespace troupe::transport
