#include "streams/tls_stream.hpp"

#include <openssl/err.h>

#include "streams/tls_core.hpp"

namespace troupe::transport {

namespace {

using tls_detail::tls_core;

/// Error values: an OpenSSL error (library and reason), or minus an X.509
/// verification result (the peer's certificate was refused).
class tls_error_category final : public boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "tls"; }
  [[nodiscard]] std::string message(int v) const override {
    if (v < 0) return std::string("peer certificate refused: ") + X509_verify_cert_error_string(-v);
    const char* r = ERR_reason_error_string(static_cast<unsigned long>(v));
    return r ? std::string(r) : "TLS error " + std::to_string(v);
  }
};

/// The byte_stream face of a tls_core; the core lives on in the handlers
/// it has armed until they run.
class tls_stream final : public byte_stream {
 public:
  explicit tls_stream(std::shared_ptr<tls_core> core) : core_(std::move(core)) {}
  ~tls_stream() override { core_->close(); }
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  void async_read_some(char* data, std::size_t size, handler done) override {
    core_->read_some(data, size, std::move(done));
  }
  void async_write(const char* data, std::size_t size, handler done) override {
    core_->write(data, size, std::move(done));
  }
  ssize_t try_write(const char* data, std::size_t size) noexcept override { return core_->try_write(data, size); }
  void close() noexcept override { core_->close(); }
  [[nodiscard]] std::string describe() const override { return core_->peer.where; }
  [[nodiscard]] std::string peer_host() const override { return core_->peer.host; }
  [[nodiscard]] bool secured() const noexcept override { return true; }
  [[nodiscard]] std::vector<std::string> certified_names() const override { return core_->names(); }

 private:
  std::shared_ptr<tls_core> core_;
};

} // namespace

const boost::system::error_category& tls_category() noexcept {
  static const tls_error_category c;
  return c;
}

std::unique_ptr<byte_stream> make_tls_stream(boost::asio::ip::tcp::socket sock, std::shared_ptr<tls_context> ctx,
                                             bool connector, std::string session_key,
                                             std::function<void(bool)> on_handshake) {
  return std::make_unique<tls_stream>(std::make_shared<tls_core>(std::move(sock), std::move(ctx), connector,
                                                                 std::move(session_key), std::move(on_handshake)));
}

} // namespace troupe::transport
