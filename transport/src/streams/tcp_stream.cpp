#include "streams/tcp_stream.hpp"

#include "streams/socket_stream.hpp"

namespace troupe::transport {

namespace {
using tcp = boost::asio::ip::tcp;
} // namespace

tcp_peer prepare_tcp(tcp::socket& sock) {
  boost::system::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);  // writes are batched already
  const auto ep = sock.remote_endpoint(ec);
  if (ec) return {"?", {}};
  std::string host = ep.address().to_string();
  return {host + ":" + std::to_string(ep.port()), host};
}

std::unique_ptr<byte_stream> make_tcp_stream(tcp::socket sock) {
  tcp_peer p = prepare_tcp(sock);
  return std::make_unique<socket_stream<tcp::socket>>(std::move(sock), std::move(p.where), std::move(p.host));
}

} // namespace troupe::transport
