// libFuzzer target: the TLS-wrapped handshake path of an accepting node.
// The first byte chooses what the rest is:
//   even: raw bytes from a stranger, straight at the TLS stream (records,
//         a ClientHello, garbage);
//   odd:  the plaintext a peer with a valid certificate sends once its TLS
//         handshake is over: the TLS stream decrypts it and the troupe
//         handshake state machine reads it, as a node does.
// The CA and certificates are made once, at start, in a temporary directory.
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>

#include "protocol/handshake.hpp"
#include "streams/tls_stream.hpp"
#include "support/test_certs.hpp"

using namespace troupe::transport;
namespace asio = boost::asio;

namespace {

struct fixture {
  troupe::test::temp_dir dir;
  troupe::test::test_ca ca{dir.file(""), "ca"};
  std::shared_ptr<tls_context> server;
  SSL_CTX* client = nullptr;
  fixture() {
    const auto s = ca.node("fuzz-target");
    const auto c = ca.node("fuzz-peer");
    troupe::tls_options o;
    o.certificate_file = s.cert;
    o.private_key_file = s.key;
    o.ca_file = ca.ca_file();
    server = std::make_shared<tls_context>(o, "fuzz-target");
    client = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(client, TLS1_3_VERSION);
    SSL_CTX_use_certificate_file(client, c.cert.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(client, c.key.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_load_verify_locations(client, ca.ca_file().c_str(), nullptr);
    SSL_CTX_set_verify(client, SSL_VERIFY_PEER, nullptr);
  }
};

fixture& setup() {
  static fixture f;
  return f;
}

/// Feeds what the stream delivers to a troupe handshake, as a node would.
struct reader {
  handshake hs{handshake::role::acceptor, "fuzz-target", 42, "fuzz-cookie-0123456789", 1u << 16};
  std::string in;
  std::string out;
  bool over = false;
  void take(std::string_view bytes) {
    in.append(bytes);
    framing_error err{};
    const std::size_t used = split_frames(in, 1u << 16, err, [&](const frame_view& f) {
      out.clear();
      const auto st = hs.on_frame(f, out);
      if (st == handshake::status::authenticated) hs.welcome(out);
      over = over || st == handshake::status::failed;
      return st != handshake::status::failed;
    });
    in.erase(0, used);
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  fixture& f = setup();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  sock.assign(asio::ip::tcp::v4(), fds[0]);  // the stream only reads and writes it
  auto stream = make_tls_stream(std::move(sock), f.server, /*connector=*/false, {});
  reader r;
  r.hs.start(r.out);
  std::string buf(4096, '\0');
  bool reading = true;
  std::function<void()> read = [&] {
    stream->async_read_some(buf.data(), buf.size(), [&](const boost::system::error_code& ec, std::size_t n) {
      if (ec) {
        reading = false;
        return;
      }
      r.take(std::string_view(buf.data(), n));
      if (r.over) {
        reading = false;
        return;
      }
      read();
    });
  };
  read();
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  if ((data[0] & 1) == 0) {
    (void)::send(fds[1], rest.data(), rest.size(), MSG_NOSIGNAL);
  } else {
    SSL* c = SSL_new(f.client);
    SSL_set_fd(c, fds[1]);
    int rc = 0;
    while ((rc = SSL_connect(c)) != 1 && SSL_get_error(c, rc) == SSL_ERROR_WANT_READ &&
           std::chrono::steady_clock::now() < deadline) {
      io.run_for(std::chrono::milliseconds(1));
    }
    if (rc == 1 && !rest.empty()) {
      std::size_t sent = 0;
      SSL_write_ex(c, rest.data(), rest.size(), &sent);
    }
    SSL_free(c);
  }
  ::shutdown(fds[1], SHUT_WR);
  while (reading && std::chrono::steady_clock::now() < deadline) io.run_for(std::chrono::milliseconds(5));
  stream->close();
  io.poll();
  ::close(fds[1]);
  return 0;
}
