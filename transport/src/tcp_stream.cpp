#include "tcp_stream.hpp"

#include <sys/socket.h>

namespace troupe::transport {

namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class tcp_stream final : public byte_stream {
 public:
  explicit tcp_stream(tcp::socket s) : sock_(std::move(s)) {
    boost::system::error_code ec;
    sock_.set_option(tcp::no_delay(true), ec);
    const auto ep = sock_.remote_endpoint(ec);
    peer_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
    fd_ = sock_.native_handle();
  }
  void async_read_some(char* data, std::size_t size, handler done) override {
    sock_.async_read_some(asio::buffer(data, size), std::move(done));
  }
  void async_write(const char* data, std::size_t size, handler done) override {
    asio::async_write(sock_, asio::buffer(data, size), std::move(done));
  }
  ssize_t try_write(const char* data, std::size_t size) noexcept override {
    return ::send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  void close() noexcept override {
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
  }
  [[nodiscard]] std::string describe() const override { return peer_; }

 private:
  tcp::socket sock_;
  int fd_ = -1;
  std::string peer_;
};
} // namespace

std::unique_ptr<byte_stream> make_tcp_stream(tcp::socket sock) { return std::make_unique<tcp_stream>(std::move(sock)); }

} // namespace troupe::transport
