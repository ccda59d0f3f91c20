#pragma once
// Private to the transport: a byte_stream over any connected Asio stream
// socket (TCP, Unix). Writes from workers go through send(MSG_DONTWAIT).

#include <sys/socket.h>

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>
#include <string>

#include "streams/byte_stream.hpp"

namespace troupe::transport {

template <class Socket>
class socket_stream final : public byte_stream {
 public:
  /// `peer` for logs; `host`: a TCP peer's IP address (see peer_host()).
  socket_stream(Socket s, std::string peer, std::string host = {})
      : sock_(std::move(s)), peer_(std::move(peer)), host_(std::move(host)), fd_(sock_.native_handle()) {}
  void async_read_some(char* data, std::size_t size, handler done) override {
    sock_.async_read_some(boost::asio::buffer(data, size), std::move(done));
  }
  void async_write(const char* data, std::size_t size, handler done) override {
    boost::asio::async_write(sock_, boost::asio::buffer(data, size), std::move(done));
  }
  ssize_t try_write(const char* data, std::size_t size) noexcept override {
    return ::send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  void close() noexcept override {
    boost::system::error_code ec;
    sock_.shutdown(Socket::shutdown_both, ec);
    sock_.close(ec);
  }
  [[nodiscard]] std::string describe() const override { return peer_; }
  [[nodiscard]] std::string peer_host() const override { return host_; }

 private:
  Socket sock_;
  std::string peer_;
  std::string host_;
  int fd_;
};

} // namespace troupe::transport
